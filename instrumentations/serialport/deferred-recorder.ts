/**
 * Records the decoder's events after the application has handled the bytes that caused them.
 *
 * The decoder runs as the bytes pass (it is cheap and must see them in order); what it reports is
 * queued here and handed to each port's ModemPortRecorder from a `setImmediate`, i.e. once the
 * I/O callbacks and the promise continuations of this turn of the event loop have run. An
 * application that writes its next command as soon as `OK` arrives (from its `data` handler or
 * after an `await`) has written it before any span is made: the span and metric work of a command
 * (about 25 µs with a tracer, measured in bench/serialport) runs while the modem works on the next
 * one, not between the answer and the application.
 *
 * Nothing is lost or reordered: one queue for every port, in decoder order; the active context
 * of each event is kept with it (a command's span is still a child of the span that was active
 * when the application wrote it); the queue is emptied before every metric collection and on the
 * SDK's flush and shutdown (before-collect.ts), so a scrape or an exit never misses an event.
 */
import { context, type Context } from '@opentelemetry/api';
import { reportOnce } from '../../src/diag.js';
import { onBeforeCollect } from '../../src/metrics/before-collect.js';
import { tracingEnabled } from '../../src/tracing-state.js';
import type {
  AtCommandEndEvent,
  AtCommandStartEvent,
  AtCrsmEvent,
  AtCsimEvent,
  AtListener,
  AtPromptEvent,
  AtSmsSubmitEvent,
  AtUrcEvent,
} from './at.js';
import type { ModemPortRecorder } from './modem-recorder.js';

/** The decoder's event kinds: every method of AtListener. */
type Kind = keyof AtListener;

const MAX_QUEUED = 4096;

/** Flat: recorder, kind, event, context (undefined without a tracer: no span to parent). */
const queue: unknown[] = [];
let immediate: NodeJS.Immediate | undefined;

/** Hand every queued event to its recorder now (also runs before each metric collection). */
export function flushModemEvents(): void {
  if (immediate !== undefined) {
    clearImmediate(immediate);
    immediate = undefined;
  }
  // Recording never queues, but a recorder's user-visible side (a log destination) might call back
  // into a collection: take the batch first so nothing runs twice.
  const n = queue.length;
  if (n === 0) return;
  const batch = queue.splice(0, n);
  for (let i = 0; i < n; i += 4) {
    const recorder = batch[i] as ModemPortRecorder;
    const kind = batch[i + 1] as Kind;
    const event = batch[i + 2];
    const ctx = batch[i + 3] as Context | undefined;
    try {
      const fn = recorder[kind] as (e: unknown) => void;
      if (ctx === undefined || ctx === context.active()) fn.call(recorder, event);
      else context.with(ctx, fn, recorder, event);
    } catch (err) {
      reportOnce('serialport recording', err);
    }
  }
}
onBeforeCollect(flushModemEvents);

/** Events queued and not yet recorded (tests, diagnostics). */
export function pendingModemEvents(): number {
  return queue.length / 4;
}

/**
 * The decoder's listener for one port: queues what the decoder reports for `target`. `Required`:
 * an event kind added to AtListener and not forwarded here is a compile error, not a silent drop.
 */
export class DeferredRecorder implements Required<AtListener> {
  constructor(private readonly target: ModemPortRecorder) {}

  commandStart(e: AtCommandStartEvent): void {
    this.queue('commandStart', e);
  }

  commandEnd(e: AtCommandEndEvent): void {
    this.queue('commandEnd', e);
  }

  urc(e: AtUrcEvent): void {
    this.queue('urc', e);
  }

  csim(e: AtCsimEvent): void {
    this.queue('csim', e);
  }

  crsm(e: AtCrsmEvent): void {
    this.queue('crsm', e);
  }

  smsSubmit(e: AtSmsSubmitEvent): void {
    this.queue('smsSubmit', e);
  }

  prompt(e: AtPromptEvent): void {
    this.queue('prompt', e);
  }

  private queue(kind: Kind, e: unknown): void {
    queue.push(this.target, kind, e, tracingEnabled() ? context.active() : undefined);
    // Bounded: a turn of the event loop that never ends (a synchronous flood through a mock port) records as it goes.
    if (queue.length >= MAX_QUEUED * 4) flushModemEvents();
    else immediate ??= setImmediate(flushModemEvents);
  }
}
