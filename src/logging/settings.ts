/**
 * Process-wide logging settings: default level, per-component levels, format and destination.
 *
 * They come from the environment on first use (CARDLINK_LOG_LEVEL, CARDLINK_LOG_FORMAT, parsed by
 * src/config.ts) and the SDK re-applies them from its own configuration at start. Every change bumps
 * a generation number: loggers compare it on each call (one integer comparison) and rebuild their
 * pino child when it moved, so loggers created before a change follow it.
 *
 * No pino here: the SDK applies the settings at start-up; pino is loaded by logger.ts when the
 * first line is written.
 */
import { parseConfig, type LogLevel } from '../config.js';

export interface LogDestination {
  write(line: string): unknown;
}

/** At most `lines` lines per kind per `windowMs` for lines that peers cause (see peer-limit.ts). */
export interface PeerLineLimit {
  lines: number;
  windowMs: number;
}

/** 20 lines of each kind a minute: an operator sees the pattern, a flood costs a summary line. */
export const DEFAULT_PEER_LINE_LIMIT: Readonly<PeerLineLimit> = Object.freeze({ lines: 20, windowMs: 60_000 });

export interface LoggingOptions {
  /** Level of components without their own entry. */
  level?: LogLevel;
  /** `{ tls: 'debug' }`; `modem` also applies to `modem.at` unless that has its own entry. */
  componentLevels?: Record<string, LogLevel>;
  format?: 'json' | 'pretty';
  /** Where lines go (default: process.stdout). One complete line per write. */
  destination?: LogDestination;
  /** The rate limit of lines caused by peers (default DEFAULT_PEER_LINE_LIMIT). */
  peerLineLimit?: PeerLineLimit;
}

interface State {
  gen: number;
  level: LogLevel;
  componentLevels: Readonly<Record<string, LogLevel>>;
  format: 'json' | 'pretty';
  destination: LogDestination | undefined;
  peerLineLimit: Readonly<PeerLineLimit>;
}

let state: State | undefined;
let generation = 0;

function fromEnvironment(): Omit<State, 'gen'> {
  const { config } = parseConfig(process.env);
  return {
    level: config.logLevel,
    componentLevels: config.componentLogLevels,
    format: config.logFormat,
    destination: undefined,
    peerLineLimit: DEFAULT_PEER_LINE_LIMIT,
  };
}

/** Change the logging settings; unspecified options keep their current value. */
export function configureLogging(options: LoggingOptions): void {
  const base = state ?? fromEnvironment();
  const level = options.level ?? base.level;
  const format = options.format ?? base.format;
  const destination = 'destination' in options ? options.destination : base.destination;
  state = {
    gen: ++generation,
    level,
    componentLevels: Object.freeze({ ...(options.componentLevels ?? base.componentLevels) }),
    format,
    destination,
    peerLineLimit: validLimit(options.peerLineLimit) ?? base.peerLineLimit,
  };
}

function validLimit(l: PeerLineLimit | undefined): Readonly<PeerLineLimit> | undefined {
  if (l === undefined || !(Number.isInteger(l.lines) && l.lines >= 0 && Number.isFinite(l.windowMs) && l.windowMs > 0)) return undefined;
  return Object.freeze({ lines: l.lines, windowMs: l.windowMs });
}

/** Back to the environment's settings and stdout (for tests). */
export function resetLogging(): void {
  state = undefined;
  generation++;
}

export function loggingState(): Readonly<State> {
  if (state === undefined) {
    const env = fromEnvironment();
    state = { ...env, gen: ++generation };
  }
  return state;
}

/** The level for a component: its own entry, else its closest dotted parent's, else the default. */
export function levelFor(component: string, s: Readonly<State> = loggingState()): LogLevel {
  let name = component;
  for (;;) {
    const l = s.componentLevels[name];
    if (l !== undefined) return l;
    const dot = name.lastIndexOf('.');
    if (dot <= 0) return s.level;
    name = name.slice(0, dot);
  }
}
