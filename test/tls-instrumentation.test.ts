/**
 * The tls instrumentation on real PSK-TLS servers: handshakes with `openssl s_client -psk` as an
 * independent client, full SCP81 sessions with the card simulator against both admin server kinds.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { TlsInstrumentation } from '../instrumentations/tls/index.js';
import { startAdminServer, GP_SESSION, PUT_KEY_SECRET_HEX } from './fixtures/admin-server.js';
import { runCard } from './fixtures/card-simulator.js';
import { setupHarness, eventually } from './helpers/otel-harness.js';
import { clearTriggers, noteTriggerSent } from '../src/triggers.js';

const KEY_HEX = '0102030405060708090A0B0C0D0E0F10';
const KEY = Buffer.from(KEY_HEX, 'hex');
const keys = new Map([
  ['card-001', KEY],
  ['card-002', Buffer.from('A0A1A2A3A4A5A6A7A8A9AAABACADAEAF', 'hex')],
]);

const tlsInstr = new TlsInstrumentation({
  sessionHook: ({ identity }) => (identity === 'card-002' ? { deviceType: 'simulator' } : undefined),
});
const h = setupHarness([tlsInstr]);
t.teardown(() => h.shutdown());

function sClient(port: number, args: string[]): Promise<number | null> {
  return new Promise((resolve) => {
    const proto = args.some((a) => /^-tls1(_\d)?$/.test(a)) ? [] : ['-tls1_2'];
    const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...proto, ...args], { stdio: ['pipe', 'ignore', 'ignore'] });
    p.stdin.end();
    p.on('exit', (code) => resolve(code));
  });
}

t.test('handshakes seen by openssl s_client: success, bad key, unknown identity', async (t) => {
  const server = await startAdminServer({ kind: 'tls', keys, scriptsFor: () => [] });
  t.teardown(() => server.close());
  await sClient(server.port, ['-psk', KEY_HEX, '-psk_identity', 'card-001', '-cipher', 'PSK-AES128-CBC-SHA256']);
  await sClient(server.port, ['-psk', 'FF'.repeat(16), '-psk_identity', 'card-001', '-cipher', 'PSK-AES128-CBC-SHA256']);
  await sClient(server.port, ['-psk', KEY_HEX, '-psk_identity', 'nobody', '-cipher', 'PSK-AES128-CBC-SHA256']);
  await sClient(server.port, ['-psk', KEY_HEX, '-psk_identity', 'card-001', '-cipher', 'PSK-CHACHA20-POLY1305']);

  await eventually(async () => (await h.value('cardlink_tls_handshakes_total')) === 4, 5000, 'four handshakes');
  t.equal(
    await h.value('cardlink_tls_handshakes_total', {
      result: 'success',
      cipher_suite: 'TLS_PSK_WITH_AES_128_CBC_SHA256',
      failure_reason: 'none',
    }),
    1,
  );
  t.equal(await h.value('cardlink_tls_handshakes_total', { result: 'failed', cipher_suite: 'none', failure_reason: 'bad_psk' }), 1);
  t.equal(await h.value('cardlink_tls_handshakes_total', { result: 'failed', failure_reason: 'unknown_identity' }), 1);
  t.equal(await h.value('cardlink_tls_handshakes_total', { result: 'failed', failure_reason: 'no_shared_cipher' }), 1);
  t.equal((await h.histogram('cardlink_tls_handshake_duration_seconds', { result: 'success' })).count, 1);
  t.equal((await h.histogram('cardlink_tls_handshake_duration_seconds', { result: 'failed' })).count, 3);
  await eventually(async () => (await h.value('cardlink_tls_connections_active')) === 0, 5000, 'gauge back to 0');

  const hs = h.finished().filter((s) => s.name === 'tls.handshake');
  t.equal(hs.length, 4);
  const ok = hs.find((s) => s.status.code !== SpanStatusCode.ERROR);
  t.equal(ok?.kind, SpanKind.SERVER);
  t.equal(ok?.attributes['cardlink.psk.identity'], 'card-001');
  t.equal(ok?.attributes['tls.protocol.version'], '1.2');
  t.equal(ok?.attributes['tls.cipher'], 'TLS_PSK_WITH_AES_128_CBC_SHA256');
  const bad = hs.filter((s) => s.status.code === SpanStatusCode.ERROR).map((s) => s.attributes['error.type']);
  t.same(bad.sort(), ['bad_psk', 'no_shared_cipher', 'unknown_identity']);
  h.spans.reset();
});

for (const kind of ['https', 'tls'] as const) {
  t.test(`a full SCP81 session on a ${kind} admin server: APDUs, session, spans`, async (t) => {
    const before = {
      select: await h.value('cardlink_apdu_commands_total', { command_type: 'SELECT' }),
      getStatus: await h.value('cardlink_apdu_commands_total', { command_type: 'GET_STATUS' }),
      putKey: await h.value('cardlink_apdu_commands_total', { command_type: 'PUT_KEY' }),
      sw9000: await h.value('cardlink_apdu_responses_total', { status_word: '9000', status_category: 'success' }),
      sw6a82: await h.value('cardlink_apdu_responses_total', { status_word: '6A82', status_category: 'error' }),
      completed: await h.value('cardlink_sessions_total', { status: 'completed', session_type: 'polled' }),
      script: (await h.histogram('cardlink_apdu_duration_seconds', { command_type: 'SCRIPT' })).count,
      selectDur: (await h.histogram('cardlink_apdu_duration_seconds', { command_type: 'SELECT' })).count,
      sent: await h.value('cardlink_apdu_bytes_total', { direction: 'sent' }),
      received: await h.value('cardlink_apdu_bytes_total', { direction: 'received' }),
    };
    const server = await startAdminServer({ kind, keys, scriptsFor: () => GP_SESSION, chunked: kind === 'tls' });
    t.teardown(() => server.close());
    const run = await runCard({ port: server.port, identity: 'card-001', key: KEY });
    t.equal(run.end, 'completed');
    t.same(run.statuses, [200, 200, 200, 204]);

    await eventually(
      async () => (await h.value('cardlink_sessions_total', { status: 'completed', session_type: 'polled' })) === before.completed + 1,
      5000,
      'session completed',
    );
    // Script 1: SELECT ISD; script 2: 2x GET STATUS, GET DATA, SELECT unknown (6A82); script 3: INSTALL, PUT KEY.
    t.equal((await h.value('cardlink_apdu_commands_total', { command_type: 'SELECT', device_type: 'unknown' })) - before.select, 2);
    t.equal((await h.value('cardlink_apdu_commands_total', { command_type: 'GET_STATUS' })) - before.getStatus, 2);
    t.equal((await h.value('cardlink_apdu_commands_total', { command_type: 'PUT_KEY' })) - before.putKey, 1);
    t.equal((await h.value('cardlink_apdu_responses_total', { status_word: '9000', status_category: 'success' })) - before.sw9000, 6);
    t.equal((await h.value('cardlink_apdu_responses_total', { status_word: '6A82', status_category: 'error' })) - before.sw6a82, 1);
    t.equal((await h.histogram('cardlink_apdu_duration_seconds', { command_type: 'SELECT' })).count - before.selectDur, 1, 'single-APDU script timed per APDU');
    t.equal((await h.histogram('cardlink_apdu_duration_seconds', { command_type: 'SCRIPT' })).count - before.script, 2, 'multi-APDU scripts timed once each');
    const sentBytes = GP_SESSION.flat().reduce((n, b) => n + b.length, 0);
    t.equal((await h.value('cardlink_apdu_bytes_total', { direction: 'sent' })) - before.sent, sentBytes);
    // What the card answered, as it saw it: every R-APDU (data and SW) counted once.
    const receivedBytes = run.exchanges.reduce((n, [, rapdu]) => n + rapdu.length / 2, 0);
    t.equal((await h.value('cardlink_apdu_bytes_total', { direction: 'received' })) - before.received, receivedBytes);
    t.equal(await h.value('cardlink_sessions_active'), 0);

    const spans = h.finished();
    const session = spans.find((s) => s.name === 'ota.session');
    t.ok(session, 'ota.session span');
    t.equal(session?.kind, SpanKind.SERVER);
    t.equal(session?.attributes['cardlink.session.status'], 'completed');
    t.equal(session?.attributes['cardlink.apdu.count'], 7);
    t.type(run.localPort, 'number');
    t.match(session?.attributes, { 'network.peer.address': '127.0.0.1', 'network.peer.port': run.localPort }, "the card's own address and port");
    const apduSpans = spans.filter((s) => s.name.startsWith('apdu.'));
    t.same(
      apduSpans.map((s) => s.name),
      ['apdu.SELECT', 'apdu.GET_STATUS', 'apdu.GET_STATUS', 'apdu.GET_DATA', 'apdu.SELECT', 'apdu.INSTALL', 'apdu.PUT_KEY'],
    );
    for (const s of apduSpans) {
      t.equal(s.parentSpanContext?.spanId, session?.spanContext().spanId, `${s.name} is a child of the session`);
      t.equal(s.spanContext().traceId, session?.spanContext().traceId);
    }
    const notFound = apduSpans.find((s) => s.attributes['cardlink.apdu.sw'] === '6A82');
    t.equal(notFound?.status.code, SpanStatusCode.ERROR);
    const dump = JSON.stringify(spans.map((s) => ({ a: s.attributes, e: s.events, n: s.name, st: s.status })));
    t.notMatch(dump.toUpperCase(), PUT_KEY_SECRET_HEX, 'no PUT KEY data in spans');
    t.notMatch(dump.toUpperCase(), '0102030405060708090A0B0C0D0E0F10', 'no PSK in spans');
    h.spans.reset();
  });
}

t.test('session types and ends: resumed, triggered (with link), stopped mid-script, idle timeout', async (t) => {
  const server = await startAdminServer({ kind: 'https', keys, scriptsFor: () => GP_SESSION, idleTimeoutMs: 300 });
  t.teardown(() => server.close());
  const base = async (labels: Record<string, string>) => h.value('cardlink_sessions_total', labels);
  const b = {
    resumed: await base({ status: 'completed', session_type: 'resumed' }),
    triggered: await base({ status: 'completed', session_type: 'triggered', device_type: 'modem' }),
    failed: await base({ status: 'failed' }),
    timeout: await base({ status: 'timeout' }),
    simulator: await base({ device_type: 'simulator' }),
  };

  t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY, resume: true })).end, 'completed');

  clearTriggers();
  const triggerCtx = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
  noteTriggerSent({ atMs: performance.timeOrigin + performance.now(), deviceType: 'modem', triggerType: 'sms', spanContext: triggerCtx });
  t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY })).end, 'completed');

  const stopped = await runCard({ port: server.port, identity: 'card-001', key: KEY, stopAfter: 3 });
  t.equal(stopped.end, 'stopped');
  t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY, hangAfterFirst: true })).end, 'closed');
  t.equal((await runCard({ port: server.port, identity: 'card-002', key: keys.get('card-002') as Buffer })).end, 'completed');

  await eventually(async () => (await base({ status: 'timeout' })) === b.timeout + 1, 5000, 'timeout session');
  await eventually(async () => (await base({ status: 'failed' })) === b.failed + 1, 5000, 'failed session');
  t.equal((await base({ status: 'completed', session_type: 'resumed' })) - b.resumed, 1);
  t.equal((await base({ status: 'completed', session_type: 'triggered', device_type: 'modem' })) - b.triggered, 1);
  t.equal((await base({ device_type: 'simulator' })) - b.simulator, 1, 'sessionHook decided the device type');

  const sessions = h.finished().filter((s) => s.name === 'ota.session');
  const triggered = sessions.find((s) => s.attributes['cardlink.session.type'] === 'triggered');
  t.equal(triggered?.links[0]?.context.spanId, triggerCtx.spanId, 'triggered session links to its trigger');
  const failed = sessions.find((s) => s.attributes['cardlink.session.status'] === 'failed');
  // Stopped after 3 APDUs: 2 of the second script not executed, and the third script if the server
  // sent it before it saw the card hang up. No R-APDU invented, and the session span agrees with its
  // APDU spans (and so with cardlink_apdu_commands_total, which counted every C-APDU sent).
  const notExecuted = failed?.attributes['cardlink.apdu.not_executed'] as number;
  t.ok(notExecuted === 2 || notExecuted === 4, `the R-APDUs the card never sent are not invented (${notExecuted})`);
  const children = h.finished().filter((s) => s.name.startsWith('apdu.') && s.parentSpanContext?.spanId === failed?.spanContext().spanId);
  t.equal(children.length, failed?.attributes['cardlink.apdu.count'], 'one APDU span per C-APDU counted');
  t.equal(children.filter((s) => s.attributes['cardlink.apdu.executed'] === false).length, notExecuted, 'the not executed ones marked so');
  t.equal(failed?.status.code, SpanStatusCode.ERROR);
  // Hung after the first POST: the SELECT sent then is an APDU of the session, never executed.
  const hung = sessions.filter((s) => s.attributes['cardlink.session.status'] === 'timeout');
  t.equal(hung.length, 1);
  t.same([hung[0]?.attributes['cardlink.apdu.count'], hung[0]?.attributes['cardlink.apdu.not_executed']], [1, 1]);
  t.same(
    h.finished().filter((s) => s.parentSpanContext?.spanId === hung[0]?.spanContext().spanId).map((s) => [s.name, s.attributes['cardlink.apdu.executed']]),
    [['apdu.SELECT', false]],
  );
  await eventually(async () => (await h.value('cardlink_tls_connections_active')) === 0, 5000, 'connections closed');
  t.equal(await h.value('cardlink_sessions_active'), 0);
  h.spans.reset();
});

t.test('handshakes that never finish: protocol version, ClientHello then vanish, handshake timeout', async (t) => {
  const net = await import('node:net');
  const server = await startAdminServer({ kind: 'tls', keys, scriptsFor: () => [], handshakeTimeoutMs: 300 });
  t.teardown(() => server.close());
  const before = {
    proto: await h.value('cardlink_tls_handshakes_total', { failure_reason: 'protocol_version' }),
    abort: await h.value('cardlink_tls_handshakes_total', { failure_reason: 'client_abort' }),
    timeout: await h.value('cardlink_tls_handshakes_total', { failure_reason: 'timeout' }),
  };
  await sClient(server.port, ['-tls1_1', '-psk', KEY_HEX, '-psk_identity', 'card-001', '-cipher', 'PSK-AES128-CBC-SHA@SECLEVEL=0']);
  // A ClientHello record header and a few bytes, then the client is gone.
  await new Promise<void>((resolve) => {
    const c = net.connect(server.port, '127.0.0.1', () => {
      c.write(Buffer.from('16030100a5010000a10303', 'hex'));
      setTimeout(() => c.destroy(), 50);
    });
    c.on('close', () => resolve());
  });
  // Connected, silent: the server's handshakeTimeout ends it.
  const silent = net.connect(server.port, '127.0.0.1');
  t.teardown(() => silent.destroy());
  await eventually(
    async () => (await h.value('cardlink_tls_handshakes_total', { failure_reason: 'timeout' })) === before.timeout + 1,
    5000,
    'handshake timeout',
  );
  t.equal((await h.value('cardlink_tls_handshakes_total', { failure_reason: 'protocol_version' })) - before.proto, 1);
  t.equal((await h.value('cardlink_tls_handshakes_total', { failure_reason: 'client_abort' })) - before.abort, 1);
  t.equal(await h.value('cardlink_tls_connections_active'), 0, 'failed handshakes never count as connections');
});

t.test('strangers: a certificate https server of the same process, and another X-Admin-Protocol, open no session', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const https = await import('node:https');
  const tls = await import('node:tls');
  const dir = mkdtempSync(join(tmpdir(), 'tls-cert-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'ignore' });
  // The lab's web API beside the admin server: anyone can complete a handshake with it.
  const api = https.createServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }, (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(req.url === '/missing' ? 404 : 204).end());
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => api.close());
  const apiPort = (api.address() as import('node:net').AddressInfo).port;
  const sessions = async (): Promise<number> => (await h.value('cardlink_sessions_total')) + (await h.value('cardlink_sessions_active'));
  const before = { sessions: await sessions(), handshakes: await h.value('cardlink_tls_handshakes_total') };
  h.spans.reset();
  for (const path of ['/admin', '/missing']) {
    await new Promise<void>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: apiPort, path, method: 'POST', rejectUnauthorized: false, agent: false, headers: { 'X-Admin-Protocol': 'globalplatform-remote-admin/1.0', 'Content-Length': 0 } }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end();
    });
  }
  // A card with a valid key whose request names another protocol.
  const server = await startAdminServer({ kind: 'https', keys, scriptsFor: () => GP_SESSION });
  t.teardown(() => server.close());
  await new Promise<void>((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: server.port, maxVersion: 'TLSv1.2', ciphers: 'PSK-AES128-CBC-SHA256', checkServerIdentity: () => undefined, pskCallback: () => ({ identity: 'card-001', psk: KEY }) }, () => {
      socket.write('POST /admin HTTP/1.1\r\nHost: x\r\nX-Admin-Protocol: some-other-protocol/2\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', () => {});
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
  await eventually(async () => (await h.value('cardlink_tls_handshakes_total')) >= before.handshakes + 1, 5000, 'the PSK handshake');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(await sessions(), before.sessions, 'no session, completed, failed or open');
  t.equal(await h.value('cardlink_tls_handshakes_total'), before.handshakes + 1, "the certificate server's handshakes are not the admin server's");
  t.same(h.finished().filter((s) => s.name === 'tls.handshake').map((s) => s.attributes['cardlink.psk.identity']), ['card-001']);
});

t.test('TLS 1.3 with a PSK: a full handshake and a resumed one (no pskCallback, no PSK in the cipher name) both open their session', async (t) => {
  const https = await import('node:https');
  const tls = await import('node:tls');
  const server = https.createServer({ minVersion: 'TLSv1.3', pskCallback: (_s: unknown, id: string) => (id === 'card-001' ? KEY : null) } as import('node:https').ServerOptions, (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204, { 'X-Admin-Protocol': 'globalplatform-remote-admin/1.0', Connection: 'close' }).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const port = (server.address() as import('node:net').AddressInfo).port;
  const completed = (): Promise<number> => h.value('cardlink_sessions_total', { status: 'completed' });
  const before = await completed();
  const card = (session?: Buffer): Promise<{ session: Buffer | undefined; reused: boolean }> =>
    new Promise((resolve, reject) => {
      let saved: Buffer | undefined;
      let reused = false;
      const socket = tls.connect({ host: '127.0.0.1', port, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined, pskCallback: () => ({ identity: 'card-001', psk: KEY }), ...(session ? { session } : {}) }, () => {
        reused = socket.isSessionReused();
        socket.write('POST /admin HTTP/1.1\r\nHost: x\r\nX-Admin-Protocol: globalplatform-remote-admin/1.0\r\nContent-Length: 0\r\n\r\n');
      });
      socket.on('session', (s: Buffer) => (saved = s));
      socket.on('data', () => {});
      socket.on('error', reject);
      socket.on('close', () => resolve({ session: saved, reused }));
    });
  const first = await card();
  t.ok(first.session, 'a session ticket to resume with');
  const second = await card(first.session);
  t.ok(second.reused, 'the second handshake resumed');
  await eventually(async () => (await completed()) === before + 2, 5000, 'both sessions');
});

t.test('garbage on the secure socket: the server sees the same bytes, nothing is thrown', async (t) => {
  const log: string[] = [];
  const server = await startAdminServer({ kind: 'tls', keys, scriptsFor: () => GP_SESSION, log });
  t.teardown(() => server.close());
  const tls = await import('node:tls');
  await new Promise<void>((resolve) => {
    const s = tls.connect({
      port: server.port,
      host: '127.0.0.1',
      ciphers: 'PSK-AES128-CBC-SHA256',
      maxVersion: 'TLSv1.2',
      checkServerIdentity: () => undefined,
      pskCallback: () => ({ psk: KEY, identity: 'card-001' }),
    });
    s.on('secureConnect', () => {
      s.write(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x00, 0x01]));
      s.write(Buffer.alloc(1 << 20, 0x41));
      s.end();
    });
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
  await eventually(async () => (await h.value('cardlink_tls_connections_active')) === 0, 5000, 'closed');
  t.same(log.filter((l) => l.startsWith('request')), [], 'no request invented from garbage');
});

for (const kind of ['https', 'tls'] as const) {
  t.test(`${kind}: a response script past the 64 KiB capture bound is undecodable on the session span, never guessed at`, async (t) => {
    const server = await startAdminServer({ kind, keys, scriptsFor: () => [[Buffer.from('80CA006600', 'hex')]] });
    t.teardown(() => server.close());
    const before = h.finished().length;
    const responsesBefore = await h.value('cardlink_apdu_responses_total');
    const unknownBefore = await h.value('cardlink_scp81_bodies_total', { direction: 'received', format: 'unknown' });
    const huge = Buffer.concat([Buffer.alloc(70_000, 0x5a), Buffer.from('9000', 'hex')]);
    t.equal((await runCard({ port: server.port, identity: 'card-001', key: KEY, answer: () => huge })).end, 'completed');
    await eventually(() => h.finished().slice(before).some((s) => s.name === 'ota.session'), 5000, 'session ended');
    const session = h.finished().slice(before).find((s) => s.name === 'ota.session');
    t.same(
      session?.events.map((e) => [e.name, e.attributes?.['cardlink.scp81.input']]),
      [['scp81.undecodable', 'response_script']],
    );
    t.equal(await h.value('cardlink_apdu_responses_total'), responsesBefore, 'no R-APDU counted from a cut script');
    t.equal(await h.value('cardlink_scp81_bodies_total', { direction: 'received', format: 'unknown' }), unknownBefore + 1, 'counted as a body of unknown format');
    t.equal(h.finished().slice(before).filter((s) => s.name.startsWith('apdu.')).length, 0, 'no APDU span for a script never answered in full');
  });
}
