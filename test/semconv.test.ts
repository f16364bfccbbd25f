/**
 * Semantic-convention keys come from their package: the stable ones imported from
 * `@opentelemetry/semantic-conventions`, the incubating ones copied into a `semconv.ts` per
 * instrumentation (checked here against the package's incubating entry point), the `cardlink.*`
 * ones from the instrumentation's table (its spans.ts): no instrumentation spells an attribute key
 * as a string literal anywhere else.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as incubating from '@opentelemetry/semantic-conventions/incubating';
import * as tlsSemconv from '../instrumentations/tls/semconv.js';
import * as adbSemconv from '../instrumentations/adb/semconv.js';
import * as srcSemconv from '../src/semconv.js';
import { REPO_ROOT } from './helpers/child.js';

t.test('the copied incubating keys are the package\'s', async (t) => {
  for (const [file, mod] of [['tls', tlsSemconv], ['adb', adbSemconv], ['src', srcSemconv]] as const) {
    for (const [name, value] of Object.entries(mod)) {
      t.equal(value, (incubating as Record<string, unknown>)[name], `${file}/semconv.ts ${name}`);
    }
  }
});

/**
 * An OTel key of the namespaces our spans use, written as an attribute key (`'error.type': x`,
 * `attributes['error.type']`, `setAttribute('error.type', x)`): it must come from a constant.
 */
const NS = String.raw`['"](?:network|server|client|tls|db|error|process|exception|code|service|host|os|telemetry)\.[a-z_]+(?:\.[a-z_]+)*['"]`;
const OTEL_KEY = new RegExp(String.raw`${NS}\s*:|\[\s*${NS}\s*\]|setAttribute\(\s*${NS}`, 'g');
const CARDLINK = String.raw`['"]cardlink\.[a-z_.]+['"]`;
const CARDLINK_KEY = new RegExp(String.raw`${CARDLINK}\s*:|\[\s*${CARDLINK}\s*\]|setAttribute\(\s*${CARDLINK}`, 'g');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(REPO_ROOT, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) out.push(...sources(rel));
    else if (e.name.endsWith('.ts') && e.name !== 'semconv.ts' && e.name !== 'spans.ts' && e.name !== 'apdu-spans.ts') out.push(rel);
  }
  return out;
}

t.test('no instrumentation writes an attribute key as a literal outside its tables', async (t) => {
  const found: string[] = [];
  for (const file of sources('instrumentations')) {
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    for (const m of text.matchAll(OTEL_KEY)) found.push(`${file}: ${m[0]}`);
    for (const m of text.matchAll(CARDLINK_KEY)) found.push(`${file}: ${m[0]}`);
  }
  t.same(found, []);
});

t.test('nor does the rest of the package (resource, log bridge, configuration) write an OTel key as a literal', async (t) => {
  const found: string[] = [];
  for (const file of sources('src')) {
    const text = readFileSync(join(REPO_ROOT, file), 'utf8');
    for (const m of text.matchAll(OTEL_KEY)) found.push(`${file}: ${m[0]}`);
  }
  t.same(found, []);
});
