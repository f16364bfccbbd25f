/**
 * The alert rules: the committed file is the generator's output, promtool accepts it, its unit
 * tests show every alert firing on a series that should fire it and silent on one that should not,
 * thresholds change what fires, and every name the rules use is in the metric catalogue.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import YAML from 'yaml';
import { REPO_ROOT } from './helpers/child.js';
import { alertExpressions, alertRules, renderAlertRules } from '../src/alerts/rules.js';
import {
  ALERT_NAMES,
  DEFAULT_THRESHOLDS,
  isPromDuration,
  resolveThresholds,
  ThresholdError,
} from '../src/alerts/thresholds.js';
import { toYaml } from '../src/alerts/yaml.js';
import { ALERT_RULES_FILE } from '../src/gen/files.js';
import { catalogueProblems } from '../src/dashboards/promql.js';

const FIXTURE = join(REPO_ROOT, 'test/fixtures/alerts/cardlink-alerts.test.yml');

function promtool(args: string[], cwd = REPO_ROOT): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('promtool', args, { cwd, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-alerts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('deploy/prometheus/alerts.yml is the generator output (run `npm run gen` after changing the rules)', async (t) => {
  const committed = readFileSync(join(REPO_ROOT, ALERT_RULES_FILE), 'utf8');
  t.equal(committed, renderAlertRules(), 'committed rules are up to date');
});

t.test('promtool check rules passes on the committed rules and on an export with other thresholds', async (t) => {
  const r = await promtool(['check', 'rules', ALERT_RULES_FILE]);
  t.equal(r.code, 0, r.out);
  t.match(r.out, /SUCCESS: 10 rules found/);

  const dir = tmp(t);
  const file = join(dir, 'custom.yml');
  writeFileSync(file, renderAlertRules(resolveThresholds(['HighAPDULatency.threshold=0.25', 'HighAPDULatency.for=0s', 'SessionTimeoutSpike.severity=critical'])));
  const c = await promtool(['check', 'rules', file]);
  t.equal(c.code, 0, c.out);
});

t.test('the seed set: names, severities, annotations', async (t) => {
  const rules = alertRules()[0]!.rules;
  t.same(
    rules.map((r) => r.alert),
    [...ALERT_NAMES],
  );
  const byName = new Map(rules.map((r) => [r.alert, r]));
  t.equal(byName.get('HighAPDUErrorRate')?.labels.severity, 'warning');
  t.equal(byName.get('HighAPDUErrorRate')?.for, '5m');
  t.match(byName.get('HighAPDUErrorRate')?.expr, /> 0\.05$/);
  t.equal(byName.get('TLSHandshakeFailures')?.labels.severity, 'critical');
  t.equal(byName.get('DatabaseConnectionFailure')?.labels.severity, 'critical');
  t.match(byName.get('HighAPDULatency')?.expr, /^histogram_quantile\(0\.95, .*\) > 1$/);
  t.match(byName.get('LongSessionDuration')?.expr, /^histogram_quantile\(0\.95, .*\) > 60$/);
  t.notOk(byName.get('PSKMismatchBurst')?.for, 'a zero "for" is left out');
  for (const r of rules) {
    t.ok(r.annotations.summary.length > 10, `${r.alert} has a summary`);
    t.ok(r.annotations.description.length > 20, `${r.alert} has a description`);
    t.ok(r.annotations.runbook.length > 80, `${r.alert} has a runbook note`);
  }
});

t.test('promtool unit tests: every alert fires where it should and stays silent where it should not', async (t) => {
  const r = await promtool(['test', 'rules', FIXTURE]);
  t.equal(r.code, 0, r.out);
  t.match(r.out, /SUCCESS/);
  // Every alert has a test group, each with an expected firing alert and silent series.
  const doc = YAML.parse(readFileSync(FIXTURE, 'utf8')) as {
    tests: Array<{ name: string; input_series: Array<{ series: string }>; alert_rule_test: Array<{ alertname: string; exp_alerts: Array<{ exp_labels: Record<string, string> }> }> }>;
  };
  for (const alert of ALERT_NAMES) {
    const group = doc.tests.find((g) => g.name === alert);
    t.ok(group, `${alert} has a test group`);
    if (!group) continue;
    const firing = group.alert_rule_test.flatMap((e) => (e.alertname === alert ? e.exp_alerts : []));
    t.ok(firing.length > 0, `${alert} is expected to fire`);
    t.ok(firing.every((a) => a.exp_labels['instance'] === 'lab-a:9464'), `${alert} fires for lab-a only`);
    t.ok(
      group.input_series.some((s) => !s.series.includes('lab-a:9464')),
      `${alert} has series that must not fire it`,
    );
  }
});

t.test('the unit tests bite: other thresholds make each alert test fail', async (t) => {
  // Lower thresholds make the "silent" series fire; higher ones (or a longer `for`) silence the
  // firing ones. Either way promtool must report the test group of that alert as failed.
  const dir = tmp(t);
  writeFileSync(
    join(dir, 'alerts.yml'),
    renderAlertRules(
      resolveThresholds([
        'HighAPDUErrorRate.threshold=0.01',
        'SessionTimeoutSpike.threshold=2',
        'TLSHandshakeFailures.threshold=0.05',
        'DeviceDisconnected.threshold=2',
        'DatabaseConnectionFailure.for=10m',
        'HighAPDULatency.threshold=3',
        'LongSessionDuration.threshold=120',
        'PSKMismatchBurst.threshold=2',
        'ModemCommandTimeouts.threshold=20',
        'TriggersUnanswered.threshold=0.6',
      ]),
    ),
  );
  const fixture = readFileSync(FIXTURE, 'utf8').replace('../../../deploy/prometheus/alerts.yml', 'alerts.yml');
  writeFileSync(join(dir, 'unit.yml'), fixture);
  const r = await promtool(['test', 'rules', 'unit.yml'], dir);
  t.not(r.code, 0, 'promtool reports failures');
  for (const alert of ALERT_NAMES) t.match(r.out, new RegExp(`name: ${alert},`), `${alert} test group failed`);
});

t.test('thresholds set at export change what fires (promtool on a generated unit test)', async (t) => {
  const dir = tmp(t);
  writeFileSync(
    join(dir, 'alerts.yml'),
    renderAlertRules(
      resolveThresholds([
        'HighAPDUErrorRate.threshold=0.2',
        'HighAPDUErrorRate.for=1m',
        'HighAPDUErrorRate.window=2m',
        'HighAPDUErrorRate.severity=critical',
      ]),
    ),
  );
  const series = (instance: string, category: string, values: string): { series: string; values: string } => ({
    series: `cardlink_apdu_responses_total{job="cardlink",instance="${instance}",status_word="${category === 'error' ? '6A82' : '9000'}",status_category="${category}"}`,
    values,
  });
  // JSON is YAML: promtool reads this unit test as is.
  const unit = {
    rule_files: ['alerts.yml'],
    evaluation_interval: '1m',
    tests: [
      {
        interval: '1m',
        input_series: [
          series('lab-a:9464', 'success', '0+75x10'),
          series('lab-a:9464', 'error', '0+25x10'),
          series('lab-b:9464', 'success', '0+90x10'),
          series('lab-b:9464', 'error', '0+10x10'),
        ],
        alert_rule_test: [
          { eval_time: '1m', alertname: 'HighAPDUErrorRate', exp_alerts: [] },
          {
            eval_time: '3m',
            alertname: 'HighAPDUErrorRate',
            exp_alerts: [
              {
                exp_labels: { severity: 'critical', component: 'apdu', job: 'cardlink', instance: 'lab-a:9464' },
                exp_annotations: {
                  summary: 'APDU error rate above 20% on lab-a:9464',
                  description:
                    '25% of the R-APDUs received in the last 2m carried an error status word (anything but 9000, 61xx, 91xx, 92xx, 9Fxx and the 62xx/63xx warnings).',
                  runbook: alertRules()[0]!.rules[0]!.annotations.runbook,
                },
              },
            ],
          },
        ],
      },
    ],
  };
  writeFileSync(join(dir, 'unit.json'), JSON.stringify(unit, null, 2));
  const r = await promtool(['test', 'rules', 'unit.json'], dir);
  t.equal(r.code, 0, r.out);
  const text = readFileSync(join(dir, 'alerts.yml'), 'utf8');
  t.match(text, /HighAPDUErrorRate: threshold 0\.2 .* window 2m, for 1m, critical/, 'the header documents the thresholds used');
  t.match(text, /\[2m\]\)\)\n\s+> 0\.2/, 'the window and threshold are in the expression');
});

t.test('threshold overrides are validated', async (t) => {
  t.same(resolveThresholds([]), DEFAULT_THRESHOLDS);
  t.equal(resolveThresholds(['LongSessionDuration.threshold=90']).LongSessionDuration.threshold, 90);
  t.equal(resolveThresholds(['DeviceDisconnected.window=1h30m']).DeviceDisconnected.window, '1h30m');
  const bad: Array<[string, RegExp]> = [
    ['HighAPDUErrorRate=0.1', /not Alert\.setting=value/],
    ['Nope.threshold=1', /unknown alert "Nope"/],
    ['HighAPDUErrorRate.limit=1', /unknown setting "limit"/],
    ['HighAPDUErrorRate.threshold=abc', /expected a non-negative number/],
    ['HighAPDUErrorRate.threshold=-1', /expected a non-negative number/],
    ['TLSHandshakeFailures.threshold=5', /expected a ratio from 0 to 1/],
    ['DeviceDisconnected.threshold=0', /at least 1 \(below it the rule is always true\)/],
    ['HighAPDULatency.for=5 minutes', /expected a Prometheus duration/],
    ['HighAPDULatency.window=0m', /longer than 0/],
    ['HighAPDULatency.severity=page', /expected one of info, warning, critical/],
    ['HighAPDULatency.threshold=', /not Alert\.setting=value/],
  ];
  for (const [input, re] of bad) t.throws(() => resolveThresholds([input]), { name: 'ThresholdError', message: re }, input);
  t.ok(new ThresholdError('x') instanceof Error);
});

t.test('Prometheus durations', async (t) => {
  for (const ok of ['1s', '5m', '0s', '1h30m', '2d', '1w', '1y', '500ms', '1h0m5s']) t.ok(isPromDuration(ok), ok);
  for (const bad of ['', '5', 'm', '5M', '1m1h', '1.5m', '5mm', '-5m', '5 m', 'ms5']) t.notOk(isPromDuration(bad), JSON.stringify(bad));
});

t.test('every metric and label an alert rule uses is in the catalogue', async (t) => {
  for (const { alert, expr } of alertExpressions()) {
    const problems = catalogueProblems(expr);
    t.same(problems, [], `${alert}: ${expr}`);
  }
  // The check itself catches a wrong name and a wrong label.
  t.not(catalogueProblems('rate(cardlink_apdu_errors_total[5m])').length, 0);
  t.not(catalogueProblems('sum by (iccid) (rate(cardlink_apdu_commands_total[5m]))').length, 0);
  t.not(catalogueProblems('cardlink_sessions_total{status="aborted"}').length, 0);
});

t.test('the YAML emitter round-trips (parsed back by an independent YAML parser)', async (t) => {
  const doc = {
    plain: 'HighAPDUErrorRate',
    reserved: ['yes', 'no', 'on', 'off', 'true', 'null', '~', 'Y'],
    numbers: ['5', '0.05', '1e3', '.5', '-1', '2024-01-01', '.inf', '5m', '0x1F', '0x0', '0o17', '0b101', '-0x1'],
    quotes: `it's "quoted" {{ $value }}`,
    multiline: 'sum(rate(x[5m]))\n  /\nsum(rate(y[5m]))\n\n> 0.05',
    n: 0.05,
    b: false,
    empty: [],
    emptyMap: {},
    nested: [{ a: 1, b: [{ c: 'd' }] }, 'x', ['inner']],
  };
  t.strictSame(YAML.parse(toYaml(doc)), doc);
  const scalar = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('yes', 'null', '1', '- x', '#', ': ', '"', "'", '\n', ' a', 'a ', '\t'));
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom('a', 'b', 'expr', 'for'), fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }))), (d) =>
      JSON.stringify(YAML.parse(toYaml(d))) === JSON.stringify(d),
    ),
    { numRuns: 1000 },
  );
  t.pass('1000 random documents round-trip');
});
