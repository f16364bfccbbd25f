import t from 'tap';
import { parseConfig, parseResourceAttributes, INSTRUMENTATION_NAMES } from '../src/config.js';
import { DEFAULT_RECORDING_DELAY_MS } from '../instrumentations/tls/types.js';

t.test('defaults: Prometheus only, no OTLP, every instrumentation, auth off', async (t) => {
  const { config, errors } = parseConfig({});
  t.same(errors, []);
  t.equal(config.disabled, false);
  t.equal(config.serviceName, 'cardlink');
  t.same(config.metricsExporters, ['prometheus']);
  t.same(config.tracesExporters, []);
  t.same(config.logsExporters, []);
  t.equal(config.otlp.traces.endpoint, undefined);
  t.equal(config.prometheus.host, '0.0.0.0');
  t.equal(config.prometheus.port, 9464);
  t.equal(config.prometheus.path, '/metrics');
  t.equal(config.prometheus.username, undefined);
  t.same(config.health, {
    enabled: true,
    host: '0.0.0.0',
    port: 8081,
    checkTimeoutMs: 5000,
    cacheMs: 1000,
    diskThresholdPercent: 90,
    memoryThresholdPercent: 90,
    fdThresholdPercent: 90,
    diskPath: '.',
    details: false,
  });
  t.same(config.instrumentations, [...INSTRUMENTATION_NAMES]);
  t.equal(config.sampler, 'parentbased_always_on');
  t.equal(config.captureApduData, false);
});

t.test('an OTLP endpoint adds OTLP for every signal, gRPC by default', async (t) => {
  const { config, errors } = parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://alloy:4317' });
  t.same(errors, []);
  t.same(config.metricsExporters, ['prometheus', 'otlp']);
  t.same(config.tracesExporters, ['otlp']);
  t.same(config.logsExporters, ['otlp']);
  t.same(config.otlp.traces, { endpoint: 'http://alloy:4317', protocol: 'grpc' });
});

t.test('http/protobuf appends the signal path; per-signal endpoints win', async (t) => {
  const { config } = parseConfig({
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://loki-gw:4318/custom',
  });
  t.equal(config.otlp.traces.endpoint, 'http://collector:4318/v1/traces');
  t.equal(config.otlp.metrics.endpoint, 'http://collector:4318/v1/metrics');
  t.equal(config.otlp.logs.endpoint, 'http://loki-gw:4318/custom');
});

t.test('exporter lists: none, console, explicit otlp without endpoint uses the OTel default', async (t) => {
  const { config, errors } = parseConfig({ OTEL_METRICS_EXPORTER: 'none', OTEL_TRACES_EXPORTER: 'otlp,console' });
  t.same(errors, []);
  t.same(config.metricsExporters, []);
  t.same(config.tracesExporters, ['otlp', 'console']);
  t.equal(config.otlp.traces.endpoint, 'http://localhost:4317');
});

t.test('instrumentation toggles: the disabled list wins', async (t) => {
  const { config, errors } = parseConfig({ CARDLINK_INSTRUMENTATIONS: 'tls, adb,system', CARDLINK_DISABLED_INSTRUMENTATIONS: 'adb' });
  t.same(errors, []);
  t.same(config.instrumentations, ['tls', 'system']);
});

t.test('bad values: one specific line each, naming the variable, the value and what is valid', async (t) => {
  const { config, errors } = parseConfig({
    CARDLINK_INSTRUMENTATIONS: 'tls,modemz',
    OTEL_EXPORTER_PROMETHEUS_PORT: '70000',
    OTEL_METRICS_EXPORTER: 'prometheus,statsd',
    OTEL_TRACES_SAMPLER: 'sometimes',
    CARDLINK_CAPTURE_APDU_DATA: 'maybe',
    CARDLINK_METRICS_USERNAME: 'ops',
  });
  t.equal(errors.length, 6, errors.join('\n'));
  for (const e of errors) t.notMatch(e, /\n/, 'one line');
  t.match(errors.join('\n'), /CARDLINK_INSTRUMENTATIONS: unknown value "modemz"; valid values are tls, serialport, adb, sqlite, pg, system/);
  t.match(errors.join('\n'), /OTEL_EXPORTER_PROMETHEUS_PORT="70000" is not valid: expected an integer from 0 to 65535/);
  t.match(errors.join('\n'), /OTEL_METRICS_EXPORTER: unknown value "statsd"/);
  t.match(errors.join('\n'), /OTEL_TRACES_SAMPLER="sometimes"/);
  t.match(errors.join('\n'), /CARDLINK_CAPTURE_APDU_DATA="maybe"/);
  t.match(errors.join('\n'), /CARDLINK_METRICS_USERNAME and CARDLINK_METRICS_PASSWORD must be set together/);
  // defaults stand in for bad values
  t.same(config.instrumentations, ['tls']);
  t.equal(config.prometheus.port, 9464);
  t.same(config.metricsExporters, ['prometheus']);
  t.equal(config.sampler, 'parentbased_always_on');
  t.equal(config.prometheus.username, undefined);
});

t.test('a list of nothing but typos is the default, not an empty list that switches the feature off', async (t) => {
  const typo = parseConfig({
    OTEL_METRICS_EXPORTER: 'prometeus',
    OTEL_PROPAGATORS: 'tracecontxt',
    CARDLINK_INSTRUMENTATIONS: 'tsl',
    OTEL_TRACES_EXPORTER: 'otpl',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317',
    CARDLINK_LOG_LEVEL: 'verbose',
  });
  t.same(typo.config.metricsExporters, ['prometheus', 'otlp'], '/metrics still served');
  t.same(typo.config.propagators, ['tracecontext', 'baggage'], 'OTEL_PROPAGATORS: the default, named (NodeSDK would read the typo again from the environment)');
  t.same(typo.config.instrumentations, parseConfig({}).config.instrumentations, 'every instrumentation, as unset');
  t.same(typo.config.tracesExporters, ['otlp'], 'traces still go to the configured endpoint');
  t.same([typo.config.logLevel, typo.config.componentLogLevels], [parseConfig({}).config.logLevel, parseConfig({}).config.componentLogLevels], 'CARDLINK_LOG_LEVEL: the default, per-component levels included');
  t.match(typo.errors.join('\n'), /OTEL_METRICS_EXPORTER: unknown value "prometeus"; valid values are .*; using the default \(prometheus,otlp\)\./);
  t.match(typo.errors.join('\n'), /CARDLINK_INSTRUMENTATIONS: unknown value "tsl"; .*; using the default \(/);
  // Only commas: nothing asked for, the default (`none` asks for nothing).
  const commas = parseConfig({ OTEL_METRICS_EXPORTER: ',', OTEL_PROPAGATORS: ' , ' });
  t.same(commas.config.metricsExporters, ['prometheus']);
  t.same(commas.config.propagators, ['tracecontext', 'baggage']);
  t.match(commas.errors.join('\n'), /OTEL_METRICS_EXPORTER="," names no value; .*; using the default \(prometheus\)\./);
  t.same(parseConfig({ OTEL_METRICS_EXPORTER: 'none' }).config.metricsExporters, []);
  // A list with one good element keeps it; the unknown one is ignored.
  const mixed = parseConfig({ CARDLINK_INSTRUMENTATIONS: 'tls,modemz' });
  t.same(mixed.config.instrumentations, ['tls']);
  t.match(mixed.errors.join('\n'), /unknown value "modemz"; .*; ignored\./);
});

t.test('service name and resource attributes', async (t) => {
  const attrs = parseResourceAttributes('deployment.environment=lab%201, team = ota ,broken');
  t.same(attrs, { 'deployment.environment': 'lab 1', team: 'ota' });
  t.equal(parseConfig({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs' }).config.serviceName, 'from-attrs');
  t.equal(
    parseConfig({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs', OTEL_SERVICE_NAME: 'explicit' }).config.serviceName,
    'explicit',
  );
});

t.test('log levels per component', async (t) => {
  const { config, errors } = parseConfig({ CARDLINK_LOG_LEVEL: 'warn,tls=debug,modem=error' });
  t.same(errors, []);
  t.equal(config.logLevel, 'warn');
  t.same(config.componentLogLevels, { tls: 'debug', modem: 'error' });
});

t.test('basic auth needs both variables; sampler ratio validated', async (t) => {
  const { config } = parseConfig({
    CARDLINK_METRICS_USERNAME: 'ops',
    CARDLINK_METRICS_PASSWORD: 's3cret',
    OTEL_TRACES_SAMPLER: 'traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.25',
  });
  t.equal(config.prometheus.username, 'ops');
  t.equal(config.prometheus.password, 's3cret');
  t.equal(config.samplerRatio, 0.25);
  t.match(parseConfig({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }).errors[0], /OTEL_TRACES_SAMPLER_ARG/);
  // Checked before a ratio sampler is chosen too (`config set` saves it for later).
  t.match(parseConfig({ OTEL_TRACES_SAMPLER_ARG: '2' }).errors[0], /OTEL_TRACES_SAMPLER_ARG/);
  t.same(parseConfig({ OTEL_TRACES_SAMPLER_ARG: '0.5' }).errors, []);
  t.equal(parseConfig({ OTEL_TRACES_SAMPLER_ARG: '0.5' }).config.samplerRatio, 1, 'used by ratio samplers only');
});

t.test('health variables: limits, cache, thresholds (with or without %), disk path; bad values named', async (t) => {
  const { config, errors } = parseConfig({
    CARDLINK_HEALTH_PORT: '18081',
    CARDLINK_HEALTH_CHECK_TIMEOUT_MS: '2500',
    CARDLINK_HEALTH_CACHE_MS: '0',
    CARDLINK_HEALTH_DISK_THRESHOLD: '85%',
    CARDLINK_HEALTH_MEMORY_THRESHOLD: ' 95 ',
    CARDLINK_HEALTH_FD_THRESHOLD: '75',
    CARDLINK_HEALTH_DISK_PATH: '/var/lib/cardlink',
    CARDLINK_HEALTH_DETAILS: 'true',
  });
  t.same(errors, []);
  t.same(config.health, {
    enabled: true,
    host: '0.0.0.0',
    port: 18081,
    checkTimeoutMs: 2500,
    cacheMs: 0,
    diskThresholdPercent: 85,
    memoryThresholdPercent: 95,
    fdThresholdPercent: 75,
    diskPath: '/var/lib/cardlink',
    details: true,
  });
  const bad = parseConfig({
    CARDLINK_HEALTH_CHECK_TIMEOUT_MS: '0',
    CARDLINK_HEALTH_CACHE_MS: '-5',
    CARDLINK_HEALTH_DISK_THRESHOLD: '101',
    CARDLINK_HEALTH_MEMORY_THRESHOLD: 'ninety',
    CARDLINK_HEALTH_FD_THRESHOLD: '0',
    CARDLINK_HEALTH_ENABLED: 'perhaps',
  });
  t.same(bad.errors, [
    'cardlink-otel: CARDLINK_HEALTH_ENABLED="perhaps" is not valid: expected true or false; using the default.',
    'cardlink-otel: CARDLINK_HEALTH_CHECK_TIMEOUT_MS="0" is not valid: expected an integer from 1 to 300000; using the default.',
    'cardlink-otel: CARDLINK_HEALTH_CACHE_MS="-5" is not valid: expected an integer from 0 to 300000; using the default.',
    'cardlink-otel: CARDLINK_HEALTH_DISK_THRESHOLD="101" is not valid: expected a percentage from 1 to 100; using the default.',
    'cardlink-otel: CARDLINK_HEALTH_MEMORY_THRESHOLD="ninety" is not valid: expected a percentage from 1 to 100; using the default.',
    'cardlink-otel: CARDLINK_HEALTH_FD_THRESHOLD="0" is not valid: expected a percentage from 1 to 100; using the default.',
  ]);
  t.match(bad.config.health, { enabled: true, checkTimeoutMs: 5000, cacheMs: 1000, diskThresholdPercent: 90, memoryThresholdPercent: 90, fdThresholdPercent: 90 });
});

t.test('CARDLINK_DB_SLOW_QUERY_MS: default 250, 0 allowed, bad values named', async (t) => {
  t.equal(parseConfig({}).config.dbSlowQueryMs, 250);
  const { config, errors } = parseConfig({ CARDLINK_DB_SLOW_QUERY_MS: ' 40 ' });
  t.same(errors, []);
  t.equal(config.dbSlowQueryMs, 40);
  t.equal(parseConfig({ CARDLINK_DB_SLOW_QUERY_MS: '0' }).config.dbSlowQueryMs, 0, '0: every query is slow');
  for (const bad of ['-1', '1.5', 'fast', '3600001']) {
    const r = parseConfig({ CARDLINK_DB_SLOW_QUERY_MS: bad });
    t.equal(r.config.dbSlowQueryMs, 250, `${bad}: the default`);
    t.same(r.errors, [
      `cardlink-otel: CARDLINK_DB_SLOW_QUERY_MS=${JSON.stringify(bad)} is not valid: expected an integer from 0 to 3600000; using the default.`,
    ]);
  }
});

t.test('CARDLINK_TLS_RECORDING_DELAY_MS: default 0 (inline), batches allowed, bad values named', async (t) => {
  t.equal(parseConfig({}).config.tlsRecordingDelayMs, 0);
  t.equal(DEFAULT_RECORDING_DELAY_MS, 0, 'the instrumentation\'s own default is the same');
  t.equal(parseConfig({ CARDLINK_TLS_RECORDING_DELAY_MS: '100' }).config.tlsRecordingDelayMs, 100, '100: batches');
  t.equal(parseConfig({ CARDLINK_TLS_RECORDING_DELAY_MS: '250' }).config.tlsRecordingDelayMs, 250);
  const r = parseConfig({ CARDLINK_TLS_RECORDING_DELAY_MS: 'soon' });
  t.equal(r.config.tlsRecordingDelayMs, 0);
  t.same(r.errors, [
    'cardlink-otel: CARDLINK_TLS_RECORDING_DELAY_MS="soon" is not valid: expected an integer from 0 to 60000; using the default.',
  ]);
});
