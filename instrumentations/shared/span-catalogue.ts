/**
 * The shape of the span tables each instrumentation keeps in its `spans.ts`: span names, kinds,
 * attributes, events and links. docs/spans.md is generated from them (src/gen/spans-doc.ts), and
 * the test harness checks every span our instrumentations end against them (`spanShapeErrors`).
 */
import { SpanKind, type Attributes } from '@opentelemetry/api';

export type SpanKindName = keyof typeof SpanKind;

export interface AttributeDoc {
  readonly key: string;
  readonly brief: string;
}

export interface EventDoc {
  readonly name: string;
  readonly brief: string;
  readonly attributes: readonly AttributeDoc[];
}

export interface LinkDoc {
  readonly to: string;
  readonly attributes: readonly AttributeDoc[];
}

export interface SpanDoc {
  /** `<placeholder>` stands for a bounded value (`apdu.<COMMAND_TYPE>`). */
  readonly name: string;
  /** Shorter forms of the name, when a part is not known (`SELECT` without a table). */
  readonly alsoNamed?: readonly string[];
  readonly kind: SpanKindName;
  readonly brief: string;
  readonly attributes: readonly AttributeDoc[];
  readonly events?: readonly EventDoc[];
  readonly links?: readonly LinkDoc[];
}

export const attr = (key: string, brief: string): AttributeDoc => ({ key, brief });

/** The event `Span.recordException` adds. */
export const EXCEPTION_EVENT: EventDoc = {
  name: 'exception',
  brief: 'the error, as `recordException` records it',
  attributes: [
    attr('exception.type', 'the error class or code'),
    attr('exception.message', 'its message'),
    attr('exception.stacktrace', 'its stack'),
  ],
};

/** What a span we ended looked like (a ReadableSpan has all of it). */
export interface SpanShape {
  readonly name: string;
  readonly kind: SpanKind;
  readonly attributes: Attributes;
  readonly events: ReadonlyArray<{ readonly name: string; readonly attributes?: Attributes }>;
  readonly links: ReadonlyArray<{ readonly attributes?: Attributes }>;
}

function namePattern(name: string): RegExp {
  const parts = name.split(/<[^>]+>/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.+')}$`);
}

/** Why `span` matches none of `docs` (empty when it matches one). */
export function spanShapeErrors(span: SpanShape, docs: readonly SpanDoc[]): string[] {
  const candidates = docs.filter(
    (d) => SpanKind[d.kind] === span.kind && [d.name, ...(d.alsoNamed ?? [])].some((n) => namePattern(n).test(span.name)),
  );
  if (candidates.length === 0) return [`span ${JSON.stringify(span.name)} (${SpanKind[span.kind]}) is in no span table`];
  let best: string[] | undefined;
  for (const d of candidates) {
    const errors: string[] = [];
    const keys = new Set(d.attributes.map((a) => a.key));
    for (const k of Object.keys(span.attributes)) if (!keys.has(k)) errors.push(`${d.name}: attribute ${k} is not in its table`);
    for (const e of span.events) {
      const ed = d.events?.find((x) => x.name === e.name);
      if (ed === undefined) errors.push(`${d.name}: event ${e.name} is not in its table`);
      else for (const k of Object.keys(e.attributes ?? {})) if (!ed.attributes.some((a) => a.key === k)) errors.push(`${d.name}: event ${e.name} attribute ${k} is not in its table`);
    }
    for (const l of span.links) {
      for (const k of Object.keys(l.attributes ?? {})) {
        if (!(d.links ?? []).some((ld) => ld.attributes.some((a) => a.key === k))) errors.push(`${d.name}: link attribute ${k} is not in its table`);
      }
    }
    if (errors.length === 0) return [];
    if (best === undefined || errors.length < best.length) best = errors;
  }
  return best ?? [];
}
