// The SQL corpus: statements from PostgreSQL's regression SQL and SQLite's test scripts
// (test/fixtures/real-world/sql/*.json, each item naming its source), run through the pure
// classifier: query type, main table, and that no literal or comment text survives sanitising.
import { readFileSync, readdirSync } from 'node:fs';
import type { Test } from 'tap';
import { QUERY_TYPES, classifySql, mainTable, queryType, sanitizeSql } from '../../instrumentations/db/sql.js';

interface CorpusItem {
  source: string;
  input: string;
  note?: string;
  expect: { queryType: string; table: string | null; absent?: string[]; sanitized?: string };
}

const DIR = new URL('../fixtures/real-world/sql/', import.meta.url);

export function runCorpus(t: Test): void {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
  t.ok(files.length >= 2, 'the PostgreSQL and SQLite corpus files are there');
  for (const file of files) {
    const doc = JSON.parse(readFileSync(new URL(file, DIR), 'utf8')) as { description: string; items: CorpusItem[] };
    t.test(`SQL corpus ${file}`, async (t) => {
      t.ok(doc.description.length > 0 && doc.items.length > 0, 'described and not empty');
      for (const item of doc.items) {
        const at = `${item.source}: ${JSON.stringify(item.input.slice(0, 60))}`;
        t.match(item.source, /^[\w.-]+\/[\w.-]+:\S+$/, `${at}: source is repo:path`);
        t.ok((QUERY_TYPES as readonly string[]).includes(item.expect.queryType), `${at}: expected type in the domain`);
        const summary = classifySql(item.input);
        t.equal(summary.queryType, item.expect.queryType, `${at}: query type`);
        t.equal(queryType(item.input), item.expect.queryType, `${at}: queryType agrees`);
        t.equal(summary.table ?? null, item.expect.table, `${at}: main table`);
        t.equal(mainTable(item.input) ?? null, item.expect.table, `${at}: mainTable agrees`);
        const sanitized = sanitizeSql(item.input);
        t.equal(summary.sanitized, sanitized, `${at}: sanitizeSql agrees`);
        for (const secret of item.expect.absent ?? []) {
          t.notOk(sanitized.includes(secret), `${at}: ${JSON.stringify(secret)} does not survive`);
        }
        if (item.expect.sanitized !== undefined) t.equal(sanitized, item.expect.sanitized, `${at}: sanitized text`);
      }
    });
  }
}
