// The Prometheus text parser against the format's own example, the real output of
// @opentelemetry/exporter-prometheus (in memory and over HTTP), hand-made edge cases,
// histogram_quantile checked by hand and against promtool, and fast-check properties.
import t from 'tap';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  getSample,
  histogramBuckets,
  histogramQuantile,
  parsePrometheusText,
  parsePromValue,
  sumSamples,
  type HistogramBucket,
} from '../src/prom/text-parser.js';
import { scrape } from './helpers/scrape.js';
import { freePort } from './helpers/child.js';

// The example from the Prometheus "Exposition formats" documentation (text format 0.0.4).
const DOC_EXAMPLE = `# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.05"} 3272
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.9"} 9001
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
`;

t.test('the exposition-format documentation example', async (tt) => {
  const { families, errors } = parsePrometheusText(DOC_EXAMPLE);
  tt.same(errors, []);
  tt.same(
    [...families.keys()],
    [
      'http_requests_total',
      'msdos_file_access_time_seconds',
      'metric_without_timestamp_and_labels',
      'something_weird',
      'http_request_duration_seconds',
      'rpc_duration_seconds',
    ],
  );
  const req = families.get('http_requests_total');
  tt.equal(req?.type, 'counter');
  tt.equal(req?.help, 'The total number of HTTP requests.');
  tt.same(req?.samples, [
    { name: 'http_requests_total', labels: { method: 'post', code: '200' }, value: 1027, timestamp: 1395066363000 },
    { name: 'http_requests_total', labels: { method: 'post', code: '400' }, value: 3, timestamp: 1395066363000 },
  ]);
  const msdos = families.get('msdos_file_access_time_seconds');
  tt.equal(msdos?.type, 'untyped');
  tt.same(msdos?.samples[0]?.labels, { path: 'C:\\DIR\\FILE.TXT', error: 'Cannot find file:\n"FILE.TXT"' });
  tt.equal(msdos?.samples[0]?.value, 1.458255915e9);
  tt.same(families.get('metric_without_timestamp_and_labels')?.samples, [
    { name: 'metric_without_timestamp_and_labels', labels: {}, value: 12.47 },
  ]);
  const weird = families.get('something_weird')?.samples[0];
  tt.equal(weird?.value, Infinity);
  tt.equal(weird?.timestamp, -3982045);

  const h = families.get('http_request_duration_seconds');
  tt.equal(h?.type, 'histogram');
  tt.equal(h?.samples.length, 8, '_bucket, _sum and _count samples belong to the family');
  tt.equal(getSample(h, 'http_request_duration_seconds_sum')?.value, 53423);
  tt.equal(sumSamples(h), 144320, 'histogram default: _count');
  tt.same(histogramBuckets(h), [
    { le: 0.05, count: 24054 },
    { le: 0.1, count: 33444 },
    { le: 0.2, count: 100392 },
    { le: 0.5, count: 129389 },
    { le: 1, count: 133988 },
    { le: Infinity, count: 144320 },
  ]);

  const s = families.get('rpc_duration_seconds');
  tt.equal(s?.type, 'summary');
  tt.equal(s?.samples.length, 7);
  tt.equal(getSample(families, 'rpc_duration_seconds', { quantile: '0.99' })?.value, 76656);
  tt.equal(getSample(families, 'rpc_duration_seconds_sum')?.value, 1.7560473e7);
  tt.equal(sumSamples(s), 2693);
  tt.equal(sumSamples(s, undefined, 'rpc_duration_seconds_sum'), 1.7560473e7);
});

t.test('histogramQuantile: hand-computed values (PromQL linear interpolation)', async (tt) => {
  const h = histogramBuckets(parsePrometheusText(DOC_EXAMPLE).families.get('http_request_duration_seconds'));
  // q=0.5: rank 72160 falls in (0.1, 0.2]: 0.1 + 0.1 * (72160-33444)/(100392-33444).
  tt.equal(histogramQuantile(h, 0.5), 0.15782995757901658);
  // q=0.1: rank 14432 falls in the first bucket, interpolated from 0: 0 + 0.05 * (14432/24054).
  tt.equal(histogramQuantile(h, 0.1), 0.02999916853745739);
  tt.equal(histogramQuantile(h, 0), 0);
  // Ranks in the +Inf bucket answer the highest finite bound.
  tt.equal(histogramQuantile(h, 0.99), 1);
  tt.equal(histogramQuantile(h, 1), 1);
  // Input order does not matter.
  tt.equal(histogramQuantile([...h].reverse(), 0.5), 0.15782995757901658);

  tt.equal(histogramQuantile(h, -0.1), -Infinity);
  tt.equal(histogramQuantile(h, 1.1), Infinity);
  tt.ok(Number.isNaN(histogramQuantile(h, NaN)));
  tt.ok(Number.isNaN(histogramQuantile([], 0.5)), 'no buckets');
  tt.ok(Number.isNaN(histogramQuantile([{ le: 1, count: 3 }, { le: 2, count: 4 }], 0.5)), 'no +Inf bucket');
  tt.ok(Number.isNaN(histogramQuantile([{ le: Infinity, count: 4 }], 0.5)), 'fewer than 2 buckets');
  tt.ok(Number.isNaN(histogramQuantile([{ le: 1, count: 0 }, { le: Infinity, count: 0 }], 0.5)), 'no observations');
  // A first bucket with a bound <= 0 answers that bound instead of interpolating from 0.
  tt.equal(histogramQuantile([{ le: -1, count: 5 }, { le: Infinity, count: 10 }], 0.25), -1);
  // Non-monotonic counts are smoothed upwards (le=2 becomes 5): rank 5 is reached at le=1.
  tt.equal(histogramQuantile([{ le: 1, count: 5 }, { le: 2, count: 3 }, { le: Infinity, count: 10 }], 0.5), 1);
  // Duplicate bounds are summed: le=1 -> 4, so q=0.5 of 8 reaches exactly le=1.
  tt.equal(histogramQuantile([{ le: 1, count: 2 }, { le: 1, count: 2 }, { le: Infinity, count: 8 }], 0.5), 1);
  // Interpolation inside a middle bucket: 1 + (5-1) * (6-4)/(8-4) = 3.
  tt.equal(histogramQuantile([{ le: 1, count: 4 }, { le: 5, count: 8 }, { le: Infinity, count: 12 }], 0.5), 3);
});

/** Cumulative buckets with random bounds/counts, always ending with +Inf and >0 observations. */
const histogramArb = fc
  .tuple(
    fc.uniqueArray(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 8 }),
    fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 9, maxLength: 9 }),
    // q in (0, 1]: q = 0 over an empty first bucket is 0/0 = NaN, in Prometheus too.
    fc.integer({ min: 1, max: 1000 }),
  )
  .filter(([, counts]) => counts.some((c) => c > 0))
  .map(([bounds, counts, qMillis]) => {
    const sorted = [...bounds].sort((a, b) => a - b).map((b) => b / 1000);
    let cum = 0;
    const buckets: HistogramBucket[] = sorted.map((le, i) => ({ le, count: (cum += counts[i] ?? 0) }));
    buckets.push({ le: Infinity, count: cum + (counts[8] ?? 0) });
    return { buckets, q: qMillis / 1000 };
  })
  .filter(({ buckets }) => (buckets[buckets.length - 1]?.count ?? 0) > 0);

const promtoolCheck = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const promtoolMissing = promtoolCheck.error !== undefined || promtoolCheck.status !== 0;

t.test(
  'histogramQuantile agrees exactly with promtool (Prometheus) on random histograms',
  { skip: promtoolMissing ? 'promtool (Debian prometheus) not installed' : false },
  async (tt) => {
    const cases = fc.sample(histogramArb, { numRuns: 40, seed: 81 });
    const series: string[] = [];
    const exprs: string[] = [];
    cases.forEach(({ buckets, q }, i) => {
      for (const b of buckets) {
        const le = b.le === Infinity ? '+Inf' : String(b.le);
        series.push(`      - series: 'h_bucket{case="${i}",le="${le}"}'\n        values: '${b.count}'`);
      }
      const expected = histogramQuantile(buckets, q);
      tt.ok(Number.isFinite(expected), `case ${i} finite`);
      exprs.push(
        `      - expr: histogram_quantile(${q}, h_bucket{case="${i}"})\n        eval_time: 0m\n        exp_samples:\n          - labels: '{case="${i}"}'\n            value: ${expected}`,
      );
    });
    const yaml = `rule_files: []\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n${series.join('\n')}\n    promql_expr_test:\n${exprs.join('\n')}\n`;
    const dir = mkdtempSync(join(tmpdir(), 'promtool-'));
    tt.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'quantile_test.yml');
    writeFileSync(file, yaml);
    const res = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8', timeout: 30_000 });
    tt.equal(res.status, 0, `promtool test rules:\n${res.stdout}\n${res.stderr}`);
  },
);

t.test('histogramQuantile properties: monotonic in q, within the bucket range', async (tt) => {
  fc.assert(
    fc.property(histogramArb, fc.integer({ min: 1, max: 1000 }), ({ buckets, q }, q2Millis) => {
      const q2 = q2Millis / 1000;
      const [lo, hi] = q <= q2 ? [q, q2] : [q2, q];
      const a = histogramQuantile(buckets, lo);
      const b = histogramQuantile(buckets, hi);
      const maxFinite = buckets[buckets.length - 2]?.le ?? 0;
      return a <= b + 1e-12 && a >= 0 && b <= maxFinite;
    }),
    { numRuns: 500 },
  );
  tt.pass('properties held');
});

/** Runs the exporter's request handler against a fake response and returns the body. */
function renderWithHandler(exporter: PrometheusExporter): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve) => {
    const headers: Record<string, unknown> = {};
    const res = {
      statusCode: 200,
      setHeader(k: string, v: unknown) {
        headers[k.toLowerCase()] = v;
        return res;
      },
      writeHead(status: number) {
        res.statusCode = status;
        return res;
      },
      end(body?: unknown) {
        resolve({ status: res.statusCode, body: typeof body === 'string' ? body : String(body ?? ''), headers });
        return res;
      },
    };
    exporter.getMetricsRequestHandler(
      { url: '/metrics', method: 'GET', headers: {} } as unknown as IncomingMessage,
      res as unknown as ServerResponse,
    );
  });
}

t.test('real @opentelemetry/exporter-prometheus output (request handler)', async (tt) => {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({
    readers: [exporter],
    resource: resourceFromAttributes({ 'service.name': 'svc "quoted" \\ back\nslash' }),
  });
  tt.teardown(() => provider.shutdown());
  const meter = provider.getMeter('cardlink', '0.1.0');
  const counter = meter.createCounter('cardlink.apdu.commands', { description: 'APDU "commands" \\ sent\nper type' });
  counter.add(3, { command_type: 'SELECT', tricky: 'a"b\\c\nd' });
  counter.add(2, { command_type: 'READ_BINARY', tricky: '' });
  const hist = meter.createHistogram('cardlink.apdu.duration', {
    unit: 's',
    advice: { explicitBucketBoundaries: [0.1, 1, 10] },
  });
  for (const v of [0.05, 5, 50]) hist.record(v, { command_type: 'SELECT' });
  meter.createUpDownCounter('cardlink.sessions.active').add(-2);
  meter.createGauge('cardlink.small').record(1.5e-7);

  const { status, body } = await renderWithHandler(exporter);
  tt.equal(status, 200);
  const { families, errors } = parsePrometheusText(body);
  tt.same(errors, [], 'the exporter output parses cleanly');

  const info = families.get('target_info');
  tt.equal(info?.type, 'gauge');
  tt.equal(info?.samples[0]?.labels['service_name'], 'svc "quoted" \\ back\nslash', 'label escapes decoded');

  // The JS exporter names the family after the sample: `# TYPE x_total counter`.
  const c = families.get('cardlink_apdu_commands_total');
  tt.equal(c?.type, 'counter');
  tt.equal(c?.help, 'APDU "commands" \\ sent\nper type', 'HELP escapes decoded');
  tt.equal(sumSamples(c), 5);
  tt.equal(sumSamples(c, { command_type: 'SELECT' }), 3);
  const select = getSample(families, 'cardlink_apdu_commands_total', { command_type: 'SELECT' });
  tt.same(select?.labels, { command_type: 'SELECT', tricky: 'a"b\\c\nd', otel_scope_name: 'cardlink', otel_scope_version: '0.1.0' });
  tt.equal(getSample(c, 'cardlink_apdu_commands_total', { tricky: '' })?.value, 2, 'empty label value');

  const h = families.get('cardlink_apdu_duration');
  tt.equal(h?.type, 'histogram');
  tt.equal(h?.unit, 's', '# UNIT line');
  tt.equal(sumSamples(h), 3);
  tt.equal(sumSamples(h, undefined, 'cardlink_apdu_duration_sum'), 55.05);
  const buckets = histogramBuckets(h, { command_type: 'SELECT' });
  tt.same(buckets, [
    { le: 0.1, count: 1 },
    { le: 1, count: 1 },
    { le: 10, count: 2 },
    { le: Infinity, count: 3 },
  ]);
  // rank 1.5 falls in (1, 10]: 1 + 9 * (1.5-1)/(2-1) = 5.5
  tt.equal(histogramQuantile(buckets, 0.5), 5.5);

  tt.equal(families.get('cardlink_sessions_active')?.type, 'gauge', 'an UpDownCounter is a gauge');
  tt.equal(getSample(families, 'cardlink_sessions_active')?.value, -2);
  tt.equal(getSample(families, 'cardlink_small')?.value, 1.5e-7);
});

t.test('scrape(): a real PrometheusExporter server on a free port', async (tt) => {
  const port = await freePort();
  const exporter = new PrometheusExporter({ host: '127.0.0.1', port, preventServerStart: true });
  await exporter.startServer();
  const provider = new MeterProvider({ readers: [exporter] });
  tt.teardown(() => provider.shutdown());
  provider.getMeter('m').createCounter('scraped').add(7, { k: 'v' });

  const r = await scrape(`http://127.0.0.1:${port}/metrics`);
  tt.equal(r.status, 200);
  tt.match(String(r.headers['content-type']), /text\/plain/);
  tt.same(r.errors, []);
  tt.equal(getSample(r.families, 'scraped_total', { k: 'v' })?.value, 7);
  tt.match(r.text, /# TYPE scraped_total counter/);

  const notFound = await scrape(`http://127.0.0.1:${port}/nope`);
  tt.equal(notFound.status, 404);
  await tt.rejects(scrape(`http://127.0.0.1:${await freePort()}/metrics`), /ECONNREFUSED/);
});

t.test('scrape(): sends HTTP Basic credentials', async (tt) => {
  const http = await import('node:http');
  let seen: string | undefined;
  const server = http.createServer((req, res) => {
    seen = req.headers.authorization;
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end('# TYPE up gauge\nup 1\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  tt.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const r = await scrape(`http://127.0.0.1:${port}/metrics`, { username: 'ops', password: 'p:w' });
  tt.equal(seen, `Basic ${Buffer.from('ops:p:w').toString('base64')}`);
  tt.equal(getSample(r.families, 'up')?.value, 1);
  await scrape(`http://127.0.0.1:${port}/metrics`);
  tt.equal(seen, undefined, 'no credentials, no header');
});

t.test('family derivation from TYPE lines and suffixes', async (tt) => {
  const text = [
    '# TYPE foo counter',
    'foo_total{a="1"} 1',
    'foo_created{a="1"} 1700000000',
    '# TYPE bar_total counter',
    'bar_total 2',
    'baz_bucket{le="1"} 3', // no TYPE: an untyped family of its own
    '# HELP qux only help', // HELP without TYPE: untyped
    'qux_count 4',
    '# TYPE s summary',
    's{quantile="0.5"} 1',
    's_sum 2',
    's_count 3',
    '# TYPE g gauge',
    'g_total 9', // _total does not attach to a gauge
  ].join('\n');
  const { families, errors } = parsePrometheusText(text);
  tt.same(errors, []);
  tt.same(
    families.get('foo')?.samples.map((s) => s.name),
    ['foo_total', 'foo_created'],
  );
  tt.equal(sumSamples(families.get('foo')), 1, 'default sum skips _created');
  tt.equal(families.get('bar_total')?.type, 'counter');
  tt.equal(families.get('bar_total')?.samples.length, 1);
  tt.equal(families.get('baz_bucket')?.type, 'untyped');
  tt.equal(families.get('qux')?.help, 'only help');
  tt.equal(families.get('qux')?.samples.length, 0);
  tt.equal(families.get('qux_count')?.samples[0]?.value, 4);
  tt.same(
    families.get('s')?.samples.map((x) => x.name),
    ['s', 's_sum', 's_count'],
  );
  tt.equal(families.get('g')?.samples.length, 0);
  tt.equal(families.get('g_total')?.type, 'untyped');
});

t.test('escapes, values, timestamps and layout', async (tt) => {
  const text = [
    '# HELP h a \\\\ b \\n c \\t d', // \\ and \n are escapes; \t stays as written
    '# TYPE h gauge',
    'h{v="q\\"uote"} 1',
    'h{v="back\\\\slash"} 2',
    'h{v="new\\nline"} 3',
    'h{v="uni ☃ 𝄞"} 4',
    '',
    '   ',
    '# just a comment',
    '#HELP h not a help line: no blank after #',
    '\th{v="tab",} \t 5 \t 123 ', // blanks/tabs anywhere between tokens, trailing comma
    'h { v = "spaced" } 6',
    'h{} 7',
    'n1 NaN',
    'n2 +Inf',
    'n3 -Inf',
    'n4 -1.5E-3',
    'n5 .5',
    'n6 5.',
    'n7 1e3 -42',
    'n8 inf\r', // CRLF tolerated; Go accepts any case
  ].join('\n');
  const { families, errors } = parsePrometheusText(text);
  tt.same(errors, []);
  const h = families.get('h');
  tt.equal(h?.help, 'a \\ b \n c \\t d');
  tt.same(
    h?.samples.map((s) => s.labels['v']),
    ['q"uote', 'back\\slash', 'new\nline', 'uni ☃ 𝄞', 'tab', 'spaced', undefined],
  );
  tt.equal(h?.samples[4]?.timestamp, 123);
  tt.same(h?.samples[6]?.labels, {});
  const v = (n: string) => getSample(families, n)?.value;
  tt.ok(Number.isNaN(v('n1')));
  tt.equal(v('n2'), Infinity);
  tt.equal(v('n3'), -Infinity);
  tt.equal(v('n4'), -0.0015);
  tt.equal(v('n5'), 0.5);
  tt.equal(v('n6'), 5);
  tt.equal(v('n7'), 1000);
  tt.equal(getSample(families, 'n7')?.timestamp, -42);
  tt.equal(v('n8'), Infinity);

  for (const bad of ['0x10', '', 'abc', '1e', '+NaN', '1.2.3', '1e5x', '--1', 'Infx', '1_000']) {
    tt.equal(parsePromValue(bad), undefined, `value ${JSON.stringify(bad)} rejected`);
  }
});

t.test('bad lines are reported with their number and skipped; the rest still parses', async (tt) => {
  const text = [
    'ok1 1', // 1
    'bad-name 1', // 2
    'x{a="1",a="2"} 1', // 3 duplicate label
    'x{a="1" 1', // 4 unterminated label set
    'x{a="\\t"} 1', // 5 invalid escape
    'x{1a="v"} 1', // 6 invalid label name
    'x{a=v} 1', // 7 unquoted value
    'x{a="unterminated} 1', // 8
    'x 1 2 3', // 9 trailing garbage
    'x one', // 10 bad value
    'x 1 1.5', // 11 bad timestamp
    'x', // 12 missing value
    '# TYPE y bogus', // 13
    '# TYPE y gauge', // 14 ok
    '# TYPE y counter', // 15 second TYPE
    '# HELP y one', // 16 ok
    '# HELP y two', // 17 second HELP
    'z 1', // 18
    '# TYPE z gauge', // 19 TYPE after samples
    '# HELP 9bad text', // 20 invalid name
    'x{a="1"}1', // 21 no blank before the value
    'ok2 2', // 22
  ].join('\n');
  const { families, errors } = parsePrometheusText(text);
  tt.same(
    errors.map((e) => Number(/^line (\d+):/.exec(e)?.[1])),
    [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 17, 19, 20, 21],
  );
  tt.match(errors[1], /duplicate label a/);
  tt.match(errors[3], /invalid escape/);
  tt.equal(getSample(families, 'ok1')?.value, 1);
  tt.equal(getSample(families, 'ok2')?.value, 2);
  tt.equal(families.get('y')?.type, 'gauge');
  tt.equal(families.get('y')?.help, 'one');
  tt.equal(families.get('z')?.type, 'untyped');
  tt.equal(families.get('x'), undefined, 'no bad line produced a sample');
});

t.test('bounds: long lines, many errors, hostile label names', async (tt) => {
  const long = `big{v="${'x'.repeat(70_000)}"} 1\nsmall 2`;
  const r1 = parsePrometheusText(long);
  tt.match(r1.errors[0], /line 1: line longer than 65536/);
  tt.equal(getSample(r1.families, 'small')?.value, 2);
  tt.equal(parsePrometheusText(long, { maxLineLength: 100_000 }).errors.length, 0);

  const garbage = Array.from({ length: 500 }, () => '!!!').join('\n');
  const r2 = parsePrometheusText(garbage);
  tt.equal(r2.errors.length, 101);
  tt.equal(r2.errors[100], '400 more error(s) not shown');

  const r3 = parsePrometheusText('p{__proto__="x",constructor="y"} 1');
  const labels = r3.families.get('p')?.samples[0]?.labels;
  tt.equal(Object.getPrototypeOf(labels), Object.prototype, 'prototype untouched');
  tt.same(Object.keys(labels ?? {}), ['__proto__', 'constructor']);
  tt.equal(labels?.['__proto__'], 'x');

  tt.same(parsePrometheusText(undefined as unknown as string).errors, ['input is not a string']);
});

t.test('fast-check: arbitrary input never throws and yields well-formed results', async (tt) => {
  const alphabet = fc.constantFrom('#', ' ', '\t', '\n', '\r', '{', '}', '"', '\\', '=', ',', 'a', '_', ':', '1', '.', 'e', '+', '-', 'I', 'n', 'f', 'N', 'HELP', 'TYPE', 'UNIT', 'counter', 'le', '☃');
  const structured = fc.array(alphabet, { maxLength: 200 }).map((a) => a.join(''));
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), structured), (s) => {
      const r = parsePrometheusText(s);
      for (const e of r.errors) if (typeof e !== 'string') return false;
      for (const f of r.families.values()) {
        for (const x of f.samples) if (typeof x.value !== 'number' || typeof x.name !== 'string') return false;
      }
      return true;
    }),
    { numRuns: 2000 },
  );
  tt.pass('never threw');
});

t.test('fast-check: escaped label values and HELP text round-trip', async (tt) => {
  const escLabel = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
  const escHelp = (s: string) => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  const value = fc.oneof(fc.double({ noNaN: true }), fc.integer().map((i) => i));
  fc.assert(
    fc.property(
      fc.string({ unit: 'binary', maxLength: 50 }),
      fc.string({ unit: 'grapheme', maxLength: 30 }),
      // A docstring's leading blanks are separators and a trailing CR is a line ending.
      fc.string({ unit: 'binary', maxLength: 40 }).filter((h) => !/^[ \t]/.test(h) && !h.endsWith('\r')),
      value,
      (v1, v2, help, val) => {
        const text = `# HELP m ${escHelp(help)}\n# TYPE m gauge\nm{a="${escLabel(v1)}",b="${escLabel(v2)}"} ${String(val)}\n`;
        const { families, errors } = parsePrometheusText(text);
        const s = families.get('m')?.samples[0];
        return (
          errors.length === 0 &&
          families.get('m')?.help === help &&
          s?.labels['a'] === v1 &&
          s.labels['b'] === v2 &&
          Object.is(s.value, val === 0 ? 0 : val) // String(-0) is '0'
        );
      },
    ),
    { numRuns: 1000 },
  );
  tt.pass('round-tripped');
});
