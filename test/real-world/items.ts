/**
 * The items of a corpus directory (test/fixtures/real-world/<dir>/*.json, each `{ items: [...] }`):
 * every file must have items and every item name its source (`owner/repo:path`).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';

export function eachItem<I extends { source: string; note: string }>(t: Test, dir: string, visit: (item: I) => void): void {
  const path = join(import.meta.dirname, '..', 'fixtures', 'real-world', dir);
  for (const file of readdirSync(path).filter((f) => f.endsWith('.json'))) {
    const { items } = JSON.parse(readFileSync(join(path, file), 'utf8')) as { items: I[] };
    t.ok(items.length > 0, `${file} has items`);
    for (const it of items) {
      t.ok(/^[\w.-]+\/[\w.-]+:\S+$/.test(it.source), `${file}: a source for ${it.note}`);
      visit(it);
    }
  }
}
