/** The decoders exported from the package root, on the examples the README shows. */
import t from 'tap';
import * as api from '../src/index.js';

t.test('decoder library examples', async (t) => {
  t.equal(api.decodeApdu('00A4040007A0000000871002')?.commandType, 'SELECT');
  t.equal(api.decodeApdu('80F28000024F00')?.commandType, 'GET_STATUS');
  t.equal(api.decodeApdu('zz'), null);
  t.equal(api.statusCategory(0x6a82), 'error');
  t.equal(api.statusCategory(0x6310), 'warning');
  t.equal(api.statusWordHex(0x9000), '9000');
  const body = api.encodeCommandScript([Buffer.from('00A4040008A000000151000000', 'hex'), Buffer.from('80CA006600', 'hex')]);
  const script = api.decodeScp81Script(body);
  t.equal(script.format, 'definite');
  t.same(
    script.apdus.map((a) => api.decodeCommandApdu(body, a.offset, a.length)?.commandType),
    ['SELECT', 'GET_DATA'],
  );
  t.same(api.parseAtLine('OK'), { kind: 'final', result: 'ok' });
  t.same(api.parseAtLine('+CME ERROR: 10'), { kind: 'final', result: 'cme_error', code: '10' });
  t.same(api.parseAtLine('+CMTI: "SM",3'), { kind: 'urc', name: '+CMTI' });
  t.same(api.parseAtLine('> '), { kind: 'prompt' });
  t.same(api.parseAtLine('+CSQ: 20,99'), { kind: 'info', prefix: '+CSQ' });
  // Vendor finals and URC dialects, as the stream decoder reads them.
  t.same(api.parseAtLine('COMMAND NOT SUPPORT'), { kind: 'final', result: 'error', code: 'COMMAND NOT SUPPORT' });
  t.same(api.parseAtLine('MODEM ERROR: 3'), { kind: 'final', result: 'error', code: 'MODEM ERROR: 3' });
  t.same(api.parseAtLine('MODEM ERROR: apple'), { kind: 'info', prefix: null });
  t.same(api.parseAtLine('+PACSP0'), { kind: 'urc', name: '+PACSP' });
  const framed = Buffer.from('000580CA006600', 'hex');
  const seen: string[] = [];
  t.equal(api.walkCommandBody(framed, (o, n) => seen.push(framed.subarray(o, o + n).toString('hex'))).format, 'length_prefixed');
  t.same(seen, ['80ca006600']);
  t.equal(api.classifySql('select * from ota_sessions where id = 7').queryType, 'SELECT');
  t.equal(api.classifySql('select * from ota_sessions where id = 7').table, 'ota_sessions');
  t.notMatch(api.classifySql("insert into devices values ('secret-iccid')").sanitized, 'secret-iccid');
  t.equal(api.decodeAdbArgs(['-s', 'R58M', 'shell', 'am', 'start']).operation, 'shell');
  t.equal(api.parseAdbDevices('List of devices attached\nR58M\tdevice\nX\tunauthorized\n').devices.length, 2);
  const parsed = api.parsePrometheusText('# TYPE x counter\nx_total 3\n');
  t.equal(parsed.families.get('x')?.samples[0]?.value ?? parsed.families.get('x_total')?.samples[0]?.value, 3);
});
