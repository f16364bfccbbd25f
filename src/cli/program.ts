/**
 * The `cardlink-metrics` command line: commands wired to their modules, exit codes, one-line errors.
 * `runCli` never calls process.exit and never throws: it resolves with the exit code, so it runs
 * the same in the binary and in tests.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { VERSION } from '../version.js';
import { DASHBOARDS, renderDashboard } from '../dashboards/index.js';
import { renderAlertRules } from '../alerts/rules.js';
import { ALERT_NAMES, DEFAULT_THRESHOLDS, resolveThresholds, THRESHOLD_MEANINGS, ThresholdError } from '../alerts/thresholds.js';
import { colorEnabled, palette, type Palette } from './color.js';
import { configReport, renderConfigReport, setVariable, unsetVariable } from './config-command.js';
import { runConnectivity, renderConnectivity } from './connectivity.js';
import { CliError, EXIT, oneLine } from './errors.js';
import { toExportDocument } from './export-json.js';
import { table } from './format.js';
import { fetchHealth, healthExitCode, renderHealth } from './health.js';
import { parseHttpUrl } from './http.js';
import { makeDirectories, type CliIo } from './io.js';
import { fetchMetrics } from './scrape.js';
import { renderStatus, summarize } from './status.js';
import { authFor, resolveTargets, withAuth } from './targets.js';

interface GlobalOptions {
  debug?: boolean;
  color?: boolean;
  timeout: number;
}

const DEFAULT_TIMEOUT_MS = 5000;

function parseTimeout(v: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > 600_000) {
    throw new CliError(`--timeout ${JSON.stringify(v)}: expected milliseconds from 1 to 600000`, EXIT.USAGE);
  }
  return n;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function writeOutput(io: CliIo, file: string | undefined, text: string): void {
  if (file === undefined || file === '-') {
    io.stdout(text);
    return;
  }
  const path = resolve(io.cwd, file);
  try {
    makeDirectories(dirname(path));
    writeFileSync(path, text);
  } catch (e) {
    throw new CliError(`cannot write ${path}: ${oneLine(e)}`, EXIT.IO);
  }
}

/** Builds the program; `setExit` records each action's exit code. */
export function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command();
  const globals = (cmd: Command): GlobalOptions => cmd.optsWithGlobals<GlobalOptions>();
  const out = (cmd: Command): Palette => palette(colorEnabled(io.stdoutIsTTY, io.env, globals(cmd).color));

  program
    .name('cardlink-metrics')
    .description('Operate cardlink-otel: read a running process\'s metrics and health, check connectivity, manage configuration, export dashboards and alert rules.')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .option('--debug', 'print stack traces with errors')
    .option('--color', 'colour output even when not on a terminal')
    .option('--no-color', 'never colour output (NO_COLOR=1 does the same)')
    .addOption(new Option('--timeout <ms>', 'network timeout per request').default(DEFAULT_TIMEOUT_MS).argParser(parseTimeout))
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .addHelpText(
      'after',
      [
        '',
        'Exit codes:',
        '  0   success (health: healthy)',
        '  1   health degraded; test: a check failed; config show: the configuration has problems',
        '  2   health unhealthy',
        '  3   unreachable (refused, unknown host, timeout; health: no health document)',
        '  4   refused or unusable answer (wrong or missing credentials, 404, not Prometheus text)',
        '  64  usage error (unknown command or option, invalid value)',
        '  70  internal error; 74  file not writable',
        '',
        'Targets default to the process of the effective configuration (config file + environment):',
        '  http://127.0.0.1:$OTEL_EXPORTER_PROMETHEUS_PORT$CARDLINK_METRICS_PATH (basic auth from',
        '  CARDLINK_METRICS_USERNAME / CARDLINK_METRICS_PASSWORD) and http://127.0.0.1:$CARDLINK_HEALTH_PORT/health.',
      ].join('\n'),
    );

  program
    .command('status')
    .description('summary of a running process: sessions, TLS, APDU error rate and latency, devices')
    .option('--url <url>', 'metrics URL (default: from the configuration)')
    .option('--json', 'print the summary as JSON')
    .action(async (opts: { url?: string; json?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const t = resolveTargets(io);
      const url = parseHttpUrl(opts.url ?? t.metricsUrl, '--url');
      const scrape = await fetchMetrics({ url, timeoutMs: g.timeout, ...withAuth(authFor(t, url)) });
      const summary = summarize(scrape.families);
      if (opts.json === true) io.stdout(`${JSON.stringify({ source: scrape.url, scrapedAt: new Date().toISOString(), ...summary }, null, 2)}\n`);
      else io.stdout(renderStatus(summary, scrape.url, out(cmd)));
      setExit(EXIT.OK);
    });

  program
    .command('export')
    .description('the scrape as Prometheus text or as a JSON document')
    .addOption(new Option('--format <format>', 'output format').choices(['prometheus', 'json']).default('prometheus'))
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .option('--url <url>', 'metrics URL (default: from the configuration)')
    .action(async (opts: { format: 'prometheus' | 'json'; output?: string; url?: string }, cmd: Command) => {
      const g = globals(cmd);
      const t = resolveTargets(io);
      const url = parseHttpUrl(opts.url ?? t.metricsUrl, '--url');
      const scrape = await fetchMetrics({ url, timeoutMs: g.timeout, ...withAuth(authFor(t, url)) });
      const text =
        opts.format === 'json'
          ? `${JSON.stringify(toExportDocument(scrape.families, scrape.url, new Date()), null, 2)}\n`
          : scrape.text;
      writeOutput(io, opts.output, text);
      if (opts.output !== undefined && opts.output !== '-') io.stderr(`wrote ${opts.output} (${scrape.families.size} families)\n`);
      setExit(EXIT.OK);
    });

  program
    .command('health')
    .description('overall health (exit 0 healthy, 1 degraded, 2 unhealthy, 3 unreachable)')
    .option('--url <url>', 'health URL (default: from the configuration)')
    .option('-v, --verbose', 'show every check')
    .option('--json', 'print the health document as JSON')
    .action(async (opts: { url?: string; verbose?: boolean; json?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const t = resolveTargets(io);
      const url = parseHttpUrl(opts.url ?? t.healthUrl, '--url');
      // The /metrics credentials also unlock the checks' messages and details.
      const h = await fetchHealth(url, g.timeout, authFor(t, url));
      if (opts.json === true) io.stdout(`${JSON.stringify(h.doc, null, 2)}\n`);
      else io.stdout(renderHealth(h, opts.verbose === true, out(cmd)));
      setExit(healthExitCode(h.doc.status));
    });

  const config = program.command('config').description('show or change the configuration (config file + environment)');
  config
    .command('show')
    .description('effective configuration: every variable, its value and where it came from')
    .option('--json', 'print as JSON')
    .action((opts: { json?: boolean }, cmd: Command) => {
      const r = configReport(io);
      if (opts.json === true) io.stdout(`${JSON.stringify(r, null, 2)}\n`);
      else io.stdout(renderConfigReport(r, out(cmd)));
      setExit(r.problems.length > 0 ? EXIT.DEGRADED : EXIT.OK);
    });
  config
    .command('set')
    .description('validate a value and write it to the config file (the environment still wins)')
    .argument('<key>', 'variable name, e.g. OTEL_EXPORTER_OTLP_ENDPOINT')
    .argument('<value>', 'its value (empty: remove it from the file)')
    // A negative number is a value to validate, not an unknown option.
    .allowUnknownOption()
    .action((key: string, value: string) => {
      const r = setVariable(io, key, value);
      io.stdout(`${value.trim() === '' ? 'removed' : 'set'} ${key} in ${r.path}\n`);
      for (const n of r.notes) io.stderr(`note: ${n}\n`);
      setExit(EXIT.OK);
    });
  config
    .command('unset')
    .description('remove a variable from the config file')
    .argument('<key>', 'variable name')
    .action((key: string) => {
      const r = unsetVariable(io, key);
      io.stdout(r.removed ? `removed ${key} from ${r.path}\n` : `${key} was not in ${r.path}\n`);
      setExit(EXIT.OK);
    });

  program
    .command('test')
    .description('connectivity checks with a verdict per target (all three when none is named)')
    .option('--otlp', 'send an empty OTLP trace export to the configured endpoint')
    .option('--metrics', 'scrape /metrics')
    .option('--health', 'call the health endpoint')
    .option('--metrics-url <url>', 'metrics URL (default: from the configuration)')
    .option('--health-url <url>', 'health URL (default: from the configuration)')
    .option('--otlp-endpoint <url>', 'OTLP endpoint (default: the configured traces endpoint)')
    .option('--json', 'print the results as JSON')
    .action(
      async (
        opts: { otlp?: boolean; metrics?: boolean; health?: boolean; metricsUrl?: string; healthUrl?: string; otlpEndpoint?: string; json?: boolean },
        cmd: Command,
      ) => {
        const g = globals(cmd);
        const t = resolveTargets(io);
        const explicit = opts.otlp === true || opts.metrics === true || opts.health === true;
        if (opts.otlpEndpoint !== undefined) parseHttpUrl(opts.otlpEndpoint, '--otlp-endpoint');
        const results = await runConnectivity(t, {
          otlp: !explicit || opts.otlp === true,
          metrics: !explicit || opts.metrics === true,
          health: !explicit || opts.health === true,
          explicit,
          metricsUrl: opts.metricsUrl ?? t.metricsUrl,
          healthUrl: opts.healthUrl ?? t.healthUrl,
          ...(opts.otlpEndpoint !== undefined ? { otlpEndpoint: opts.otlpEndpoint } : {}),
          timeoutMs: g.timeout,
        });
        if (opts.json === true) io.stdout(`${JSON.stringify(results, null, 2)}\n`);
        else io.stdout(renderConnectivity(results, out(cmd)));
        setExit(results.some((r) => r.verdict === 'FAIL') ? EXIT.DEGRADED : EXIT.OK);
      },
    );

  const dashboards = program.command('dashboards').description('Grafana dashboards generated from the metric catalogue');
  dashboards
    .command('export')
    .description('write the dashboard JSON files into DIR')
    .argument('<dir>', 'output directory (created if needed)')
    .action((dir: string) => {
      const base = resolve(io.cwd, dir);
      try {
        makeDirectories(base);
        for (const d of DASHBOARDS) writeFileSync(join(base, d.file), renderDashboard(d));
      } catch (e) {
        throw new CliError(`cannot write dashboards into ${base}: ${oneLine(e)}`, EXIT.IO);
      }
      io.stdout(DASHBOARDS.map((d) => `wrote ${join(dir, d.file)}  (${d.title}, uid ${d.uid})\n`).join(''));
      setExit(EXIT.OK);
    });

  const alerts = program.command('alerts').description('Prometheus alert rules generated from the metric catalogue');
  alerts
    .command('export')
    .description('write the alert rules (YAML) to FILE ("-": stdout)')
    .argument('<file>', 'output file')
    .option('-s, --set <Alert.setting=value>', 'override a threshold, window, for or severity (repeatable)', collect, [] as string[])
    .action((file: string, opts: { set: string[] }) => {
      let thresholds;
      try {
        thresholds = resolveThresholds(opts.set);
      } catch (e) {
        if (e instanceof ThresholdError) throw new CliError(e.message, EXIT.USAGE);
        throw e;
      }
      writeOutput(io, file, renderAlertRules(thresholds));
      if (file !== '-') io.stderr(`wrote ${file} (${ALERT_NAMES.length} alert rules)\n`);
      setExit(EXIT.OK);
    });
  alerts
    .command('thresholds')
    .description('list the alerts with their default threshold, window, for and severity')
    .action(() => {
      const rows = [
        ['ALERT', 'THRESHOLD', 'WINDOW', 'FOR', 'SEVERITY', 'MEANING'],
        ...ALERT_NAMES.map((a) => {
          const d = DEFAULT_THRESHOLDS[a];
          return [a, String(d.threshold), d.window, d.for, d.severity, THRESHOLD_MEANINGS[a]];
        }),
      ];
      io.stdout(`${table(rows)}\n`);
      setExit(EXIT.OK);
    });

  return program;
}

/** Runs one command line (arguments after the executable name); resolves with the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT.OK;
  const program = buildProgram(io, (c) => (exitCode = c));
  const debug = argv.includes('--debug');
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT.USAGE;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are "errors" only to commander; its message is already printed.
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') {
        // `cardlink-metrics config` without a subcommand shows help as an error (exit code 1 in commander).
        return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      }
      // A throwing argParser (e.g. --timeout) surfaces as a commander error carrying our message.
      return EXIT.USAGE;
    }
    if (e instanceof CliError) {
      io.stderr(`cardlink-metrics: ${e.message}\n`);
      if (debug && e.stack) io.stderr(`${e.stack}\n`);
      return e.exitCode;
    }
    io.stderr(`cardlink-metrics: internal error: ${oneLine(e)}${debug ? '' : ' (run with --debug for the stack trace)'}\n`);
    if (debug && e instanceof Error && e.stack) io.stderr(`${e.stack}\n`);
    return EXIT.INTERNAL;
  }
}
