/**
 * Living beside the contrib instrumentations (@opentelemetry/auto-instrumentations-node), both ways:
 * `register` with them loaded through CARDLINK_EXTRA_INSTRUMENTATIONS, and an application's own
 * NodeSDK holding both sets, in either order. The lab (test/fixtures/coexist/lab-app.mjs) is an https
 * PSK admin server with a card, and one query on a real PostgreSQL server. Both sets of patches
 * work; the session's trace is its own, linked to the contrib span of the POST that opened it; a
 * query is one span (the contrib pg one) while our metrics still count it.
 */
import t, { type Test } from 'tap';
import { runNode } from './helpers/child.js';
import { startOtlpReceiver, type OtlpReceiver } from './fixtures/otlp-receiver.js';
import { startPostgres } from './fixtures/postgres.js';

const pgServer = await startPostgres();
t.teardown(() => pgServer.stop());

const BASE = {
  OTEL_METRICS_EXPORTER: 'otlp',
  OTEL_LOGS_EXPORTER: 'none',
  CARDLINK_HEALTH_ENABLED: 'false',
  OTEL_BSP_SCHEDULE_DELAY: '100',
  CARDLINK_INSTRUMENTATIONS: undefined,
  CARDLINK_EXTRA_INSTRUMENTATIONS: undefined,
};

function check(t: Test, receiver: OtlpReceiver): void {
  const byScope = (scope: string, name?: string) =>
    receiver.spans.filter((s) => s.scope.name === scope && (name === undefined || s.name === name));
  const posts = byScope('@opentelemetry/instrumentation-http').filter((s) => s.kind === 'SERVER' && s.name.startsWith('POST'));
  t.equal(posts.length, 2, 'the contrib http instrumentation saw both POSTs');
  t.equal(byScope('cardlink-otel/tls', 'tls.handshake').length, 1, 'our handshake span');
  const [session] = byScope('cardlink-otel/tls', 'ota.session');
  t.ok(session, 'our session span');
  t.equal(session?.parentSpanId, '', 'the session is the root of its own trace');
  t.same(
    session?.links.map((l) => [l.spanId, l.attributes['cardlink.link.type']]),
    [[posts.find((p) => p.traceId !== session?.traceId && p.spanId === session?.links[0]?.spanId)?.spanId, 'http_request']],
    'linked to the POST that opened it',
  );
  const apdus = byScope('cardlink-otel/tls').filter((s) => s.name.startsWith('apdu.'));
  t.same(apdus.map((s) => [s.name, s.parentSpanId === session?.spanId]), [['apdu.SELECT', true]], 'APDU spans under the session');

  const contribQueries = byScope('@opentelemetry/instrumentation-pg').filter((s) => s.name.startsWith('pg.query'));
  t.equal(contribQueries.length, 1, 'the contrib pg span of the query');
  t.same(byScope('cardlink-otel/pg').map((s) => s.name), [], 'no second span from ours (query, connect)');
  const duration = receiver.latestMetric('cardlink.db.query.duration');
  const select = duration?.dataPoints.find((p) => p.attributes['query_type'] === 'SELECT');
  t.equal(select?.count, 1, 'our metric still counts the query');
}

t.test('register, with the contrib instrumentations through CARDLINK_EXTRA_INSTRUMENTATIONS', async (t) => {
  const receiver = await startOtlpReceiver();
  t.teardown(() => receiver.close());
  const app = runNode({
    t,
    importRegister: true,
    args: ['test/fixtures/coexist/lab-app.mjs'],
    env: {
      ...BASE,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      CARDLINK_EXTRA_INSTRUMENTATIONS: './test/fixtures/coexist/auto-instrumentations.mjs',
      PG_URL: pgServer.connectionString,
    },
  });
  await app.waitForLine(/^done/, 60_000);
  t.same(await app.waitForExit(20_000), { code: 0, signal: null });
  t.notMatch(app.stderr(), /cannot load/);
  check(t, receiver);
});

for (const [order, file] of [
  ['contrib-first', 'own-sdk.mjs'],
  ['ours-first', 'own-sdk.mjs'],
  // CommonJS: the contrib pg instrumentation wraps pg/lib/client.js, then unwraps and wraps again for pg, ours in between.
  ['contrib-first', 'own-sdk.cjs'],
  ['ours-first', 'own-sdk.cjs'],
]) {
  t.test(`an application's own NodeSDK with both sets, ${order} (${file})`, async (t) => {
    const receiver = await startOtlpReceiver();
    t.teardown(() => receiver.close());
    const app = runNode({
      t,
      args: [`test/fixtures/coexist/${file}`],
      env: { ...BASE, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, PG_URL: pgServer.connectionString, ORDER: order },
    });
    await app.waitForLine(/^done/, 60_000);
    t.same(await app.waitForExit(20_000), { code: 0, signal: null });
    check(t, receiver);
  });
}
