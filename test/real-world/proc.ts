/**
 * The /proc corpus (test/fixtures/real-world/proc/*.json: /proc/<pid>/status and /proc/<pid>/limits
 * as kernels write them): the fields the process metrics and the health checks read, and the soft
 * descriptor limit, exactly as each item says (null: not read).
 */
import type { Test } from 'tap';
import { eachItem } from './items.js';
import { statusBytes } from '../../src/metrics/proc-self.js';
import { parseSoftFdLimit } from '../../src/listen.js';

interface Item {
  source: string;
  note: string;
  kind: 'status' | 'limits';
  text: string;
  expect: Record<string, number | null>;
}

export function runCorpus(t: Test): void {
  eachItem<Item>(t, 'proc', (it) => {
    const got: Record<string, number | null> = {};
    for (const field of Object.keys(it.expect)) {
      got[field] = (it.kind === 'status' ? statusBytes(it.text, field) : parseSoftFdLimit(it.text)) ?? null;
    }
    t.same(got, it.expect, `${it.source}: ${it.note}`);
  });
}
