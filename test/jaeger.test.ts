/**
 * Traces at a real Jaeger (all-in-one, built from its Go module by test/peers/build.sh): a whole
 * lab under `--import ./register.js` (admin server, modem on a pty, simulated cards) exports over
 * OTLP/gRPC, and the traces are read back through Jaeger's HTTP query API: service name and
 * resource, span names and kinds, parent/child (session -> APDUs, `at +CSIM` -> `apdu.*`), the link
 * from the OTA session to its SMS trigger, status and error attributes.
 */
import t from 'tap';
import { startLab } from './helpers/lab.js';
import { startJaeger, type Peer } from './helpers/peers.js';

const SERVICE = 'cardlink-lab';

/** Jaeger's query API (the JSON model behind its UI). */
interface JaegerTag {
  key: string;
  type: string;
  value: unknown;
}
interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: Array<{ refType: 'CHILD_OF' | 'FOLLOWS_FROM'; traceID: string; spanID: string }>;
  tags: JaegerTag[];
  processID: string;
}
interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags: JaegerTag[] }>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function jaegerGet<T>(jaeger: Peer, path: string): Promise<T> {
  const r = await fetch(`http://127.0.0.1:${jaeger.ports['query']}${path}`);
  if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { data: T }).data ?? ([] as T);
}

/** Every trace of the service, polled until `enough` holds on the spans of all of them. */
async function traces(jaeger: Peer, enough: (spans: JaegerSpan[]) => boolean): Promise<JaegerTrace[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const data = await jaegerGet<JaegerTrace[]>(jaeger, `/api/traces?service=${SERVICE}&limit=1000&lookback=1h`);
    if (enough(data.flatMap((x) => x.spans))) return data;
    if (Date.now() > deadline) {
      throw new Error(`Jaeger has not the expected spans: ${data.flatMap((x) => x.spans.map((s) => s.operationName)).join(', ')}\n${jaeger.log()}`);
    }
    await sleep(250);
  }
}

const tag = (s: { tags: JaegerTag[] }, key: string): unknown => s.tags.find((x) => x.key === key)?.value;
const parentOf = (s: JaegerSpan): string | undefined => s.references.find((r) => r.refType === 'CHILD_OF')?.spanID;

t.test('a lab under register: its traces read back from Jaeger', async (t) => {
  const jaeger = await startJaeger(t);
  const app = await startLab(t, {
    LAB_ROUNDS: '1',
    OTEL_SERVICE_NAME: SERVICE,
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test,team=ota',
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${jaeger.ports['otlp']}`,
    // Jaeger takes traces only.
    OTEL_METRICS_EXPORTER: 'prometheus',
    OTEL_BSP_SCHEDULE_DELAY: '100',
    CARDLINK_INSTRUMENTATIONS: 'tls,serialport',
  });
  const round = await app.waitForLine(/^round 1 /, 30_000);
  const results = JSON.parse(round.slice('round 1 '.length)) as Record<string, string>;
  t.match(results, { at: 'OK', refused: /^\+CME ERROR/, sms: 'OK', session: /^completed /, wrongKey: 'error' }, `the lab ran: ${round}`);

  const all = await traces(jaeger, (spans) => {
    const names = spans.map((s) => s.operationName);
    return (
      names.includes('ota.session') &&
      names.includes('sms.trigger') &&
      names.filter((n) => n === 'tls.handshake').length >= 2 &&
      names.filter((n) => n === 'at +CSIM').length >= 3
    );
  });
  const services = await jaegerGet<string[]>(jaeger, '/api/services');
  t.ok(services.includes(SERVICE), `Jaeger knows the service (${services.join(', ')})`);
  const spans = all.flatMap((x) => x.spans);
  const byId = new Map(spans.map((s) => [s.spanID, s]));
  const named = (n: string): JaegerSpan[] => spans.filter((s) => s.operationName === n);

  // The resource: one process per trace, ours.
  const processes = all.flatMap((x) => Object.values(x.processes));
  t.ok(processes.length > 0 && processes.every((p) => p.serviceName === SERVICE), 'every span from the service');
  const p = processes[0]!;
  t.match(tag(p, 'service.instance.id'), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'service.instance.id: a UUID');
  t.equal(tag(p, 'deployment.environment'), 'test', 'OTEL_RESOURCE_ATTRIBUTES applied');
  t.equal(tag(p, 'team'), 'ota', 'every OTEL_RESOURCE_ATTRIBUTES pair');
  t.equal(tag(p, 'telemetry.sdk.language'), 'nodejs', 'telemetry.sdk.language');
  t.equal(tag(p, 'telemetry.distro.name'), 'cardlink-otel', 'telemetry.distro.name');
  t.equal(tag(p, 'process.runtime.name'), 'nodejs', 'process.runtime.name');
  t.ok(processes.every((x) => tag(x, 'service.instance.id') === tag(p, 'service.instance.id')), 'one instance id for the process');

  // OTA session: a SERVER span, parent of its APDU spans (CLIENT), linked to the SMS trigger.
  const [session] = named('ota.session');
  t.ok(session, 'the OTA session span');
  t.equal(tag(session!, 'span.kind'), 'server', 'ota.session is SERVER');
  t.equal(tag(session!, 'cardlink.psk.identity'), 'card-001', 'the PSK identity on the session');
  t.equal(tag(session!, 'cardlink.session.status'), 'completed', 'the session completed');
  const sessionApdus = spans.filter((s) => s.operationName.startsWith('apdu.') && parentOf(s) === session!.spanID);
  t.equal(sessionApdus.length, 7, 'seven APDU spans under the session');
  t.ok(sessionApdus.every((s) => tag(s, 'span.kind') === 'client'), 'APDU spans are CLIENT');
  t.ok(sessionApdus.every((s) => s.traceID === session!.traceID), 'in the session trace');
  t.ok(sessionApdus.some((s) => s.operationName === 'apdu.SELECT') && sessionApdus.some((s) => s.operationName === 'apdu.INSTALL'), 'named by command type');
  const notFound = sessionApdus.find((s) => tag(s, 'cardlink.apdu.sw') === '6A82');
  t.ok(notFound, 'the 6A82 answer is on its APDU span');

  const [sms] = named('sms.trigger');
  t.equal(tag(sms!, 'span.kind'), 'producer', 'sms.trigger is PRODUCER');
  t.equal(tag(sms!, 'cardlink.trigger.type'), 'sms', 'an SMS trigger');
  const link = session!.references.find((r) => r.spanID === sms!.spanID);
  t.ok(link, 'the session links to its SMS trigger');
  t.equal(link?.traceID, sms!.traceID, 'the link names the trigger trace');
  t.not(link?.refType, 'CHILD_OF', 'a link, not the parent');
  t.equal(session!.references.find((r) => r.refType === 'CHILD_OF'), undefined, 'the session is a root span of its own trace');
  t.equal(tag(session!, 'cardlink.session.type'), 'triggered', 'the session counts as triggered');

  // AT+CSIM: the `at +CSIM` CLIENT span holds the APDU it carried.
  const csims = named('at +CSIM');
  t.ok(csims.every((s) => tag(s, 'span.kind') === 'client'), 'AT spans are CLIENT');
  const select = csims.find((s) => spans.some((c) => parentOf(c) === s.spanID && c.operationName === 'apdu.SELECT'));
  t.ok(select, 'apdu.SELECT under an `at +CSIM` span');
  const getResponse = csims.find((s) => spans.some((c) => parentOf(c) === s.spanID && c.operationName === 'apdu.GET_RESPONSE'));
  t.ok(getResponse, 'apdu.GET_RESPONSE under an `at +CSIM` span');
  const apduUnderAt = spans.find((c) => c.operationName === 'apdu.SELECT' && parentOf(c) === select?.spanID);
  t.equal(tag(apduUnderAt!, 'cardlink.apdu.sw'), '6120', 'its status word');

  // Errors: the refused AT+CSIM and the handshake with the wrong key.
  const refused = csims.find((s) => tag(s, 'otel.status_code') === 'ERROR');
  t.ok(refused, 'the refused AT+CSIM has status ERROR');
  t.equal(tag(refused!, 'error'), true, 'Jaeger marks it as an error');
  t.equal(tag(refused!, 'error.type'), 'cme_error', 'error.type names the kind of failure');
  t.notOk(spans.some((c) => parentOf(c) === refused!.spanID && c.operationName.startsWith('apdu.')), 'no APDU under the refused command');
  const handshakes = named('tls.handshake');
  t.ok(handshakes.every((s) => tag(s, 'span.kind') === 'server'), 'handshakes are SERVER');
  const failed = handshakes.find((s) => tag(s, 'otel.status_code') === 'ERROR');
  t.ok(failed, 'the wrong key: a failed handshake');
  t.equal(tag(failed!, 'error.type'), 'bad_psk', 'error.type: bad_psk');
  t.equal(tag(failed!, 'error'), true, 'Jaeger marks the handshake as an error');
  const ok = handshakes.find((s) => tag(s, 'otel.status_code') !== 'ERROR');
  t.equal(tag(ok!, 'tls.cipher'), 'TLS_PSK_WITH_AES_128_CBC_SHA256', 'the cipher on the good handshake');
  t.ok(byId.size === spans.length, 'span ids are unique');

  const everything = JSON.stringify(all).toUpperCase();
  t.notOk(everything.includes('0102030405060708090A0B0C0D0E0F10'), 'the PSK never reaches Jaeger');
  app.kill('SIGTERM');
  await app.waitForExit(10_000);
});
