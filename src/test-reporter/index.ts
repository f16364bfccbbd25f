/**
 * A node:test reporter that turns a test run into telemetry and still prints the usual report:
 *
 *     node --test --test-reporter=cardlink-otel/test-reporter --test-reporter-destination=stdout
 *
 * Every event goes both to the built-in `spec` reporter (whose output is this reporter's output)
 * and to the telemetry: `cardlink_tests_total{suite_name,status}`,
 * `cardlink_test_duration_seconds{suite_name}`, a span per test under a span per suite. Before the
 * report ends, telemetry is flushed (a test run is a short-lived process: nothing is scraped, it is
 * pushed over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set).
 *
 * If the runner process already runs cardlink-otel (`--import cardlink-otel/register`), that SDK
 * is used. Otherwise the reporter starts one for itself with what the environment configures, minus
 * what makes no sense in a test runner: no /metrics or health port (it would vanish with the run),
 * no instrumentation patches, no signal handlers.
 */
import { once } from 'node:events';
import { spec as SpecReporter } from 'node:test/reporters';
import { INSTRUMENTATION_NAMES, parseConfig } from '../config.js';
import { reportOnce } from '../diag.js';
import { getSdk, start } from '../sdk.js';
import { TestTreeEmitter } from './record.js';
import { TestTreeBuilder, type TestEventLike, type TestNode } from './tree.js';
import { nowMs } from '../clock.js';

/** Flush spans this often, so a big suite never overflows the batch processor's queue. */
const FLUSH_EVERY_SPANS = 1000;

interface Telemetry {
  /** Push what is pending (spans of a big suite, mid-run). */
  flush(): Promise<void>;
  /** The run is over: everything out, and our own SDK stopped. */
  end(): Promise<void>;
}

async function telemetry(): Promise<Telemetry> {
  const existing = getSdk();
  if (existing !== undefined) return { flush: () => existing.forceFlush(), end: () => existing.forceFlush() };
  const { config } = parseConfig(process.env);
  if (config.disabled) return { flush: async () => undefined, end: async () => undefined };
  const metricsExporters = config.metricsExporters.filter((e) => e !== 'prometheus');
  const sdk = await start({
    env: {
      OTEL_METRICS_EXPORTER: metricsExporters.length > 0 ? metricsExporters.join(',') : 'none',
      CARDLINK_HEALTH_ENABLED: 'false',
      CARDLINK_DISABLED_INSTRUMENTATIONS: INSTRUMENTATION_NAMES.join(','),
      CARDLINK_EXTRA_INSTRUMENTATIONS: '',
    },
    handleSignals: false,
  });
  return { flush: () => sdk.forceFlush(), end: () => sdk.shutdown() };
}


/** The reporter: a node:test reporter is an async generator from events to output text. */
export default async function* cardlinkReporter(source: AsyncIterable<TestEventLike>): AsyncGenerator<string, void> {
  const human = new SpecReporter();
  human.setEncoding('utf8');
  let tel: Telemetry | undefined;
  try {
    tel = await telemetry();
  } catch (err) {
    reportOnce('test-reporter start', err);
  }
  const builder = new TestTreeBuilder();
  const emitter = new TestTreeEmitter();
  let flushedAt = 0;

  /** A finished tree's spans, flushed every FLUSH_EVERY_SPANS as they are made (one describe may hold thousands). */
  const emit = async (top: TestNode): Promise<void> => {
    for (const _ of emitter.steps(top)) {
      if (tel !== undefined && emitter.spans - flushedAt >= FLUSH_EVERY_SPANS) {
        flushedAt = emitter.spans;
        await tel.flush();
      }
    }
  };

  const record = async (ev: TestEventLike): Promise<void> => {
    try {
      const top = builder.push(ev, nowMs());
      if (top !== undefined) await emit(top);
    } catch (err) {
      // Telemetry trouble never changes the test run or its report.
      reportOnce('test-reporter', err);
    }
  };

  // Events are fed to the spec reporter while its output is read below.
  const pump = (async () => {
    try {
      for await (const ev of source) {
        await record(ev);
        if (!human.write(ev)) await once(human, 'drain');
      }
      try {
        for (const orphan of builder.finish()) await emit(orphan);
        emitter.finish();
      } catch (err) {
        reportOnce('test-reporter', err);
      }
      await tel?.end();
    } finally {
      human.end();
    }
  })();
  // If the pump fails, the spec stream still ends (finally above); the error surfaces below.
  pump.catch(() => undefined);
  for await (const chunk of human) yield String(chunk);
  await pump;
}
