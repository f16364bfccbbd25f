/**
 * better-sqlite3 and pg in a CardLink-like child process under `--import ./register.js`, once as an
 * ESM application (the drivers imported) and once as CommonJS (required): exact query counts and
 * the connection gauge on /metrics (5 while a file database, a client and a 3-client pool are
 * open, 0 once closed), the spans at a real OTLP receiver, and the PostgreSQL password nowhere.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runNode, freePort, REPO_ROOT } from './helpers/child.js';
import { scrape } from './helpers/scrape.js';
import { startOtlpReceiver } from './fixtures/otlp-receiver.js';
import { getSample } from '../src/prom/text-parser.js';
import { INSTRUMENTATION_FACTORIES } from '../src/instrumentation-registry.js';
import { WORKLOAD, WORKLOAD_QUERY_COUNTS } from './fixtures/data-layer.js';
import { findPostgres, startPostgres } from './fixtures/postgres.js';

const available = findPostgres();
if (typeof available === 'string') {
  t.plan(0, `PostgreSQL is not available: ${available}`);
  process.exit(0);
}

const server = await startPostgres();
t.teardown(() => server.stop());
const dir = mkdtempSync(join(tmpdir(), 'cardlink-db-register-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// Until the registry loads `sqlite` and `pg` itself, bring them in as extra instrumentations.
const viaRegistry = INSTRUMENTATION_FACTORIES.sqlite !== undefined && INSTRUMENTATION_FACTORIES.pg !== undefined;
const extra = viaRegistry ? {} : { CARDLINK_EXTRA_INSTRUMENTATIONS: join(REPO_ROOT, 'test/fixtures/db-instrumentations.mjs') };

/** What the app sends: the workload on SQLite and on PostgreSQL, plus three pooled SELECTs. */
const EXPECTED: Record<string, number> = {};
for (const [k, v] of Object.entries(WORKLOAD_QUERY_COUNTS)) EXPECTED[k] = 2 * v;
EXPECTED['SELECT'] = (EXPECTED['SELECT'] ?? 0) + 3;

for (const app of ['db-app.mjs', 'db-app.cjs']) {
  t.test(`${app} under --import ./register.js: queries, connections, spans, no password`, async (t) => {
    const database = `cardlink_${app.endsWith('.mjs') ? 'esm' : 'cjs'}`;
    await server.createDatabase(database);
    const pgUrl = `postgresql://${server.user}:${server.password}@${server.host}:${server.port}/${database}`;
    const dbFile = join(dir, `${database}.db`);
    const receiver = await startOtlpReceiver();
    t.teardown(() => receiver.close());
    const port = await freePort();
    const child = runNode({
      t,
      importRegister: true,
      args: [join(REPO_ROOT, 'test/fixtures/apps', app)],
      env: {
        DB_FILE: dbFile,
        PG_URL: pgUrl,
        OTEL_EXPORTER_PROMETHEUS_PORT: String(port),
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_METRIC_EXPORT_INTERVAL: '300',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        CARDLINK_HEALTH_ENABLED: 'false',
        ...extra,
      },
    });
    const ready = JSON.parse((await child.waitForLine(/^ready /, 20_000)).slice('ready '.length)) as Record<string, unknown>;
    t.same(ready, { kind: app.endsWith('.mjs') ? 'esm' : 'cjs', same: true, completed: 2, pooled: [1, 2, 3] }, 'the app works as without us');

    const url = `http://127.0.0.1:${port}/metrics`;
    let m = await scrape(url);
    const count = (q: string): number | undefined => getSample(m.families, 'cardlink_db_query_duration_seconds_count', { query_type: q })?.value;
    for (const [q, n] of Object.entries(EXPECTED)) t.equal(count(q), n, `query_type ${q}`);
    t.equal(count('OTHER'), undefined, 'nothing unclassified');
    t.equal(getSample(m.families, 'cardlink_db_connections_active')?.value, 5, 'a SQLite file, a client and three pool clients open');

    child.kill('SIGUSR2');
    await child.waitForLine(/^closed$/, 10_000);
    // pool.end() resolves before its clients' sockets are closed: their `end` comes a moment later.
    const until = Date.now() + 5000;
    do {
      m = await scrape(url);
    } while (getSample(m.families, 'cardlink_db_connections_active')?.value !== 0 && Date.now() < until);
    t.equal(getSample(m.families, 'cardlink_db_connections_active')?.value, 0, 'all closed');

    await receiver.waitFor((r) => r.spans.filter((s) => s.attributes['db.system.name'] !== undefined).length >= 108, 15_000, 'the query spans');
    const db = receiver.spans.filter((s) => s.attributes['db.system.name'] !== undefined);
    const sqliteByDate = db.find((s) => s.name === 'SELECT ota_sessions' && s.attributes['db.system.name'] === 'sqlite');
    t.equal(sqliteByDate?.kind, 'CLIENT');
    t.equal(sqliteByDate?.attributes['db.namespace'], dbFile);
    const pgByDate = db.find((s) => s.name === 'SELECT ota_sessions' && s.attributes['db.system.name'] === 'postgresql');
    t.equal(pgByDate?.attributes['db.namespace'], database);
    t.equal(pgByDate?.attributes['server.address'], '127.0.0.1');
    t.equal(pgByDate?.attributes['server.port'], server.port);
    t.match(String(pgByDate?.attributes['db.query.text']), /^SELECT id, device_id, .* WHERE status = \$1 AND started_at >= \$2/);
    t.equal(db.filter((s) => s.name === 'pg.connect').length, 4, 'the client and three pool clients connected');
    t.equal(db.filter((s) => s.name === 'pg-pool.connect').length, 3);
    t.equal(db.filter((s) => s.attributes['db.system.name'] === 'sqlite').length, 49, 'one span per SQLite query');

    await receiver.waitFor((r) => r.metrics.some((x) => x.name === 'cardlink.db.query.duration'), 10_000, 'OTLP metrics');
    const everything =
      JSON.stringify({ spans: receiver.spans, metrics: receiver.metrics, logs: receiver.logs }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) +
      m.text +
      child.stdout() +
      child.stderr();
    t.notOk(everything.includes(server.password), 'the PostgreSQL password appears nowhere');
    const upper = everything.toUpperCase();
    for (const secret of [...WORKLOAD.pskHex, WORKLOAD.dekHex, ...WORKLOAD.iccids]) t.notOk(upper.includes(secret), `${secret} appears nowhere`);
    t.equal(child.stderr().trim(), '', 'nothing on stderr');

    child.kill('SIGTERM');
    t.same(await child.waitForExit(10_000), { code: null, signal: 'SIGTERM' }, 'ends as it would have without us');
  });
}
