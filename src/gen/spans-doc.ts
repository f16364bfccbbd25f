/** docs/spans.md, generated from the instrumentations' span tables (a test fails when the committed file drifts). */
import * as stable from '@opentelemetry/semantic-conventions';
import { instrumentationScopeName } from '../config.js';
import { OTHER_SPAN_TABLES, SPAN_TABLES } from '../span-tables.js';
import type { AttributeDoc, SpanDoc } from '../../instrumentations/shared/span-catalogue.js';

const STABLE_KEYS = new Set<string>(Object.entries(stable).flatMap(([name, v]) => (name.startsWith('ATTR_') ? [String(v)] : [])));

function source(key: string): string {
  if (key.startsWith('cardlink.')) return 'cardlink';
  return STABLE_KEYS.has(key) ? 'semconv' : 'semconv (incubating)';
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');

function attributeRows(attrs: readonly AttributeDoc[]): string[] {
  return attrs.map((a) => `| \`${a.key}\` | ${source(a.key)} | ${cell(a.brief)} |`);
}

function renderSpan(s: SpanDoc): string[] {
  const names = [s.name, ...(s.alsoNamed ?? [])].map((n) => `\`${n}\``).join(' or ');
  const out = [`### ${names} (${s.kind})`, '', `${s.brief}.`, '', '| attribute | from | meaning |', '|---|---|---|', ...attributeRows(s.attributes), ''];
  for (const e of s.events ?? []) {
    out.push(`Event \`${e.name}\`: ${e.brief}.`, '');
    if (e.attributes.length > 0) out.push('| attribute | from | meaning |', '|---|---|---|', ...attributeRows(e.attributes), '');
  }
  for (const l of s.links ?? []) {
    out.push(`Link to \`${l.to}\`:`, '', '| attribute | from | meaning |', '|---|---|---|', ...attributeRows(l.attributes), '');
  }
  return out;
}

export function renderSpansDoc(): string {
  const out = [
    '# Spans',
    '',
    '<!-- generated from the instrumentations\' spans.ts by `npm run gen`; do not edit by hand -->',
    '',
    'The spans each instrumentation, the test reporter and the API make, with every attribute, event and link they may carry. `semconv`',
    'keys are those of `@opentelemetry/semantic-conventions` (incubating ones are copied into the',
    "instrumentation's `semconv.ts`); `cardlink` keys are this project's. A `<placeholder>` in a name is a",
    "bounded value. Every span of these shapes ended in the test suite is checked against these tables.",
    '',
  ];
  for (const t of SPAN_TABLES) {
    out.push(`## ${t.instrumentation} (scope \`${instrumentationScopeName(t.instrumentation)}\`)`, '');
    for (const s of t.spans) out.push(...renderSpan(s));
  }
  for (const t of OTHER_SPAN_TABLES) {
    out.push(`## ${t.title} (scope \`${t.scope}\`)`, '');
    if (!t.everySpan) out.push('Spans of `withSpan` and `@traced` are named and attributed by their caller; these have a fixed shape.', '');
    for (const s of t.spans) out.push(...renderSpan(s));
  }
  return `${out.join('\n').replace(/\n+$/, '')}\n`;
}
