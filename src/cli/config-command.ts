/** `config show`, `config set KEY VALUE`, `config unset KEY`. */
import { maskedUsername, parseConfig, type CardlinkConfig } from '../config.js';
import type { Palette } from './color.js';
import { loadLayeredEnv, readConfigFile, writeConfigFile, configFilePath, type ValueSource } from './config-file.js';
import { knownVariables } from './config-vars.js';
import { CliError, EXIT } from './errors.js';
import type { CliIo } from './io.js';
import { table } from './format.js';
import { redactEndpoint } from '../logging/sanitize.js';

export interface ShownVariable {
  name: string;
  value: string | null;
  source: ValueSource;
  default: string;
  description: string;
}

export interface ConfigReport {
  file: { path: string; exists: boolean };
  variables: ShownVariable[];
  /** What the runtime will do with it (secrets masked). */
  effective: Omit<CardlinkConfig, 'prometheus'> & { prometheus: Omit<CardlinkConfig['prometheus'], 'password'> & { password?: string } };
  problems: string[];
}

const MASK = '********';

export function configReport(io: Pick<CliIo, 'env' | 'cwd'>): ConfigReport {
  const layered = loadLayeredEnv(io.env, io.cwd);
  const { config, errors } = parseConfig(layered.env);
  const vars = knownVariables();
  const variables = vars.map((v) => {
    const source = layered.sources[v.name] ?? 'default';
    const raw = source === 'default' ? undefined : layered.env[v.name];
    return {
      name: v.name,
      // Endpoints may carry credentials in their userinfo: never shown.
      value: raw === undefined ? null : v.secret === true ? MASK : v.name === 'CARDLINK_METRICS_USERNAME' ? maskedUsername(raw) : redactEndpoint(raw),
      source,
      default: v.default,
      description: v.description,
    };
  });
  const prometheus = {
    ...config.prometheus,
    ...(config.prometheus.password !== undefined ? { password: MASK } : {}),
    ...(config.prometheus.username !== undefined ? { username: maskedUsername(config.prometheus.username) } : {}),
  };
  const shown = (s: CardlinkConfig['otlp']['traces']) => ({ ...s, endpoint: s.endpoint === undefined ? undefined : redactEndpoint(s.endpoint) });
  const otlp = { traces: shown(config.otlp.traces), metrics: shown(config.otlp.metrics), logs: shown(config.otlp.logs) };
  return {
    file: { path: layered.file.path, exists: layered.file.exists },
    variables,
    effective: { ...config, otlp, prometheus },
    problems: [...layered.file.errors, ...errors],
  };
}

export function renderConfigReport(r: ConfigReport, p: Palette): string {
  const src = (s: ValueSource): string => (s === 'environment' ? p.cyan('environment') : s === 'file' ? p.green('file') : p.dim('default'));
  const rows = [
    [p.bold('VARIABLE'), p.bold('VALUE'), p.bold('SOURCE')],
    ...r.variables.map((v) => [v.name, v.value ?? p.dim(v.default === '' ? '(unset)' : v.default), src(v.source)]),
  ];
  const e = r.effective;
  const endpoint = (s: { endpoint: string | undefined; protocol: string }): string => (s.endpoint ? `${s.endpoint} (${s.protocol})` : 'none');
  const resolved = [
    ['service', e.serviceName],
    ['sdk', e.disabled ? p.yellow('disabled') : 'enabled'],
    ['metrics exporters', e.metricsExporters.join(', ') || 'none'],
    ['traces exporters', e.tracesExporters.join(', ') || 'none'],
    ['logs exporters', e.logsExporters.join(', ') || 'none'],
    ['OTLP traces', endpoint(e.otlp.traces)],
    ['OTLP metrics', endpoint(e.otlp.metrics)],
    ['OTLP logs', endpoint(e.otlp.logs)],
    [
      '/metrics',
      e.prometheus.auth === 'misconfigured'
        ? p.yellow('not served (Basic auth misconfigured, see Problems)')
        : `http://${e.prometheus.host}:${e.prometheus.port}${e.prometheus.path}${e.prometheus.auth === 'basic' ? ' (basic auth)' : ''}`,
    ],
    ['health', e.health.enabled ? `http://${e.health.host}:${e.health.port}/health` : 'disabled'],
    ['instrumentations', e.instrumentations.join(', ') || 'none'],
  ];
  const out = [
    `${p.bold('Config file')} ${r.file.path}${r.file.exists ? '' : p.dim(' (not present)')}`,
    p.dim('Precedence: environment (non-empty) > config file > default.'),
    '',
    table(rows),
    '',
    p.bold('Effective'),
    table(resolved.map(([k, v]) => [`  ${k}`, v ?? ''])),
  ];
  if (r.problems.length > 0) out.push('', p.yellow(p.bold('Problems')), ...r.problems.map((x) => p.yellow(`  ${x}`)));
  return `${out.join('\n')}\n`;
}

function closest(name: string, candidates: readonly string[]): string | undefined {
  const upper = name.toUpperCase();
  if (candidates.includes(upper)) return upper;
  return candidates.find((c) => c.endsWith(upper) || upper.endsWith(c) || c.includes(upper));
}

/** Checks one variable's value the way the runtime will read it; returns the problem line or undefined. */
export function validateValue(name: string, value: string): string | undefined {
  const { errors } = parseConfig({ [name]: value });
  // Only the complaints about this variable's value: a pairing remark (username without password) is not one.
  return errors.find((e) => e.includes(` ${name}=`) || e.includes(` ${name}:`) || e.includes(` ${name} entry`));
}

export interface SetResult {
  path: string;
  notes: string[];
}

export function setVariable(io: Pick<CliIo, 'env' | 'cwd'>, name: string, value: string): SetResult {
  const names = knownVariables().map((v) => v.name);
  if (!names.includes(name)) {
    const guess = closest(name, names);
    throw new CliError(`unknown variable ${JSON.stringify(name)}${guess ? ` (did you mean ${guess}?)` : ''}; \`config show\` lists them`, EXIT.USAGE);
  }
  const problem = validateValue(name, value);
  if (problem !== undefined) throw new CliError(problem.replace(/^cardlink-otel: /, '').replace(/; using the default( \([^)]*\))?\.$/, '').replace(/; ignored\.$/, ''), EXIT.USAGE);
  const path = configFilePath(io.env, io.cwd);
  const file = fileToUpdate(path);
  // Keep everything else in the file as it was, unknown keys included (someone put them there).
  const values: Record<string, unknown> = { ...(file.raw ?? {}) };
  if (value.trim() === '') delete values[name];
  else values[name] = value;
  writeFile(path, values);
  const notes: string[] = [];
  const envValue = io.env[name];
  if (envValue !== undefined && envValue.trim() !== '') notes.push(`${name} is also set in the environment, which wins over the config file`);
  const after = parseConfig(loadLayeredEnv(io.env, io.cwd).env);
  for (const e of after.errors) if (e.includes(name)) notes.push(e.replace(/^cardlink-otel: /, ''));
  return { path, notes };
}

export function unsetVariable(io: Pick<CliIo, 'env' | 'cwd'>, name: string): SetResult & { removed: boolean } {
  const path = configFilePath(io.env, io.cwd);
  const file = fileToUpdate(path);
  const removed = file.raw !== undefined && Object.prototype.hasOwnProperty.call(file.raw, name);
  if (removed) {
    const values: Record<string, unknown> = { ...file.raw };
    delete values[name];
    writeFile(path, values);
  }
  return { path, notes: [], removed };
}

/** The file as read, when it may be rewritten: not one the runtime ignores (bad JSON, untrusted). */
function fileToUpdate(path: string): ReturnType<typeof readConfigFile> {
  const file = readConfigFile(path);
  if (file.refused !== undefined) throw new CliError(`${file.refused}; not changing it`, EXIT.USAGE);
  if (file.exists && file.raw === undefined) {
    throw new CliError(`config file ${path} is not a JSON object of variables; fix or remove it first`, EXIT.USAGE);
  }
  return file;
}

function writeFile(path: string, values: Record<string, unknown>): void {
  try {
    writeConfigFile(path, values);
  } catch (e) {
    throw new CliError(`cannot write config file ${path}: ${(e as Error).message}`, EXIT.IO);
  }
}
