/**
 * Grouped checks over resources that come and go: the hook the instrumentations use.
 *
 * An instrumentation tracks each resource it sees opened (a database handle or pool, a serial
 * port, a phone) under one group check (`database`, `serialport`, `adb`):
 *
 *     const untrack = registerResourceCheck('serialport', '/dev/ttyUSB2', () =>
 *       port.isOpen && existsSync('/dev/ttyUSB2') ? 'healthy' : { status: 'unhealthy', message: 'port closed' });
 *     // when the application itself closes the port:
 *     untrack();
 *
 * The group appears in the report as one check whose status is its worst member's, with every
 * member under `details.resources`. Members are probed concurrently, each bounded (80% of the
 * group's time limit, so one stuck member is reported as such instead of cutting the whole group),
 * and a member whose previous probe still hangs is not probed again. The group disappears from the
 * report when its last member is untracked.
 *
 * Untrack on the application's deliberate close only: a resource lost underneath the application
 * (device unplugged, server gone) must stay tracked so that readiness reports it.
 */
import { redactString, sanitizeValue } from '../logging/sanitize.js';
import { registerCheck } from './registry.js';
import { normaliseResult } from './runner.js';
import type { CheckContext, CheckOptions, CheckResult, CheckReturn, CheckStatus, HealthStatus } from './types.js';

export type ResourceProbe = (ctx: CheckContext) => CheckReturn | Promise<CheckReturn>;

interface Member {
  readonly id: string;
  readonly probe: ResourceProbe;
  inFlight: Promise<Outcome> | undefined;
}

interface Group {
  readonly members: Map<string, Member>;
  unregister: (() => void) | undefined;
  options: CheckOptions;
}

type Outcome = { status: CheckStatus; message: string; details?: unknown };

const KEY = Symbol.for('cardlink-otel.health.resource-groups');
/** Per group; past this, new resources are not tracked (a leak must not grow the report forever). */
export const MAX_RESOURCES_PER_GROUP = 100;

function groups(): Map<string, Group> {
  const g = globalThis as unknown as Record<symbol, Map<string, Group> | undefined>;
  let m = g[KEY];
  if (m === undefined) {
    m = new Map();
    g[KEY] = m;
  }
  return m;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message || err.name : String(err);
}

function startProbe(m: Member, ctx: CheckContext): Promise<Outcome> {
  if (m.inFlight !== undefined) return m.inFlight;
  const p = (async (): Promise<Outcome> => {
    try {
      const r: CheckResult = normaliseResult(await m.probe(ctx));
      return { status: r.status, message: r.message ?? (r.status === 'healthy' ? 'ok' : r.status), details: r.details };
    } catch (err) {
      return { status: 'unhealthy', message: messageOf(err) };
    }
  })();
  m.inFlight = p;
  void p.then(() => {
    if (m.inFlight === p) m.inFlight = undefined;
  });
  return p;
}

async function probeMember(m: Member, ctx: CheckContext, limitMs: number): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ status: 'timeout', message: `no answer within ${limitMs} ms` }), limitMs);
  });
  try {
    return await Promise.race([startProbe(m, { signal: ctx.signal, timeoutMs: limitMs }), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function groupCheck(name: string, group: Group) {
  return async (ctx: CheckContext): Promise<CheckResult> => {
    const members = [...group.members.values()];
    if (members.length === 0) return { status: 'healthy', message: 'nothing to check' };
    const limitMs = Math.max(1, Math.floor(ctx.timeoutMs * 0.8));
    const outcomes = await Promise.all(members.map((m) => probeMember(m, ctx, limitMs)));
    const resources: Record<string, unknown> = {};
    const bad: string[] = [];
    let status: HealthStatus = 'healthy';
    outcomes.forEach((o, i) => {
      const id = (members[i] as Member).id;
      const entry: Record<string, unknown> = { status: o.status, message: redactString(o.message) };
      if (o.details !== undefined) entry['details'] = sanitizeValue(o.details);
      resources[id] = entry;
      if (o.status === 'unhealthy' || o.status === 'timeout') {
        status = 'unhealthy';
        bad.push(`${id}: ${o.status === 'timeout' ? 'timeout' : o.message}`);
      } else if (o.status === 'degraded') {
        if (status === 'healthy') status = 'degraded';
        bad.push(`${id}: ${o.message}`);
      }
    });
    const message =
      bad.length === 0 ? `${members.length} ${name} resource(s) ok` : `${bad.length} of ${members.length} not healthy: ${bad.join('; ')}`;
    return { status, message, details: { resources } };
  };
}

/**
 * Track one resource under the group check `group` (registered on first use, with `options`).
 * Re-tracking an id replaces its probe. Returns the function that untracks it.
 */
export function registerResourceCheck(group: string, id: string, probe: ResourceProbe, options: CheckOptions = {}): () => void {
  const all = groups();
  let g = all.get(group);
  if (g === undefined) {
    g = { members: new Map(), unregister: undefined, options };
    all.set(group, g);
  }
  const grp = g;
  if (!grp.members.has(id) && grp.members.size >= MAX_RESOURCES_PER_GROUP) return () => undefined;
  const member: Member = { id, probe, inFlight: undefined };
  grp.members.set(id, member);
  grp.unregister ??= registerCheck(group, groupCheck(group, grp), grp.options);
  return () => {
    if (grp.members.get(id) !== member) return;
    grp.members.delete(id);
    if (grp.members.size === 0) {
      grp.unregister?.();
      grp.unregister = undefined;
      if (all.get(group) === grp) all.delete(group);
    }
  };
}

/** Ids tracked under a group (for tests and diagnostics). */
export function trackedResources(group: string): string[] {
  return [...(groups().get(group)?.members.keys() ?? [])];
}
