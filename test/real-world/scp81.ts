/**
 * The SCP81 corpus (test/fixtures/real-world/scp81/*.json: bodies as the public CardLink builds
 * them) run over the pure body decoders: each body's format, the APDUs handed over, their types.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { bytesToHex, commandType, hexToBytes } from '../../instrumentations/shared/apdu.js';
import { walkCommandBody, walkResponseBody } from '../../instrumentations/tls/scp81.js';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'real-world', 'scp81');

interface Item {
  source: string;
  note: string;
  input: { direction: 'command' | 'response'; body: string };
  expect: { format: string; apdus: string[]; commandTypes?: string[] };
}

export function runCorpus(t: Test): void {
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.json'))) {
    const { items } = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as { items: Item[] };
    t.ok(items.length > 0, `${file} has items`);
    for (const it of items) {
      t.ok(/^[\w.-]+\/[\w.-]+:\S+$/.test(it.source), `${file}: a source for ${it.note}`);
      const body = hexToBytes(it.input.body) ?? new Uint8Array(0);
      const apdus: string[] = [];
      const types: string[] = [];
      const visit = (o: number, n: number): void => {
        apdus.push(bytesToHex(body, o, n));
        if (it.input.direction === 'command') types.push(commandType(body[o]!, body[o + 1]!, body[o + 2]!));
      };
      const shape = it.input.direction === 'command' ? walkCommandBody(body, visit) : walkResponseBody(body, visit);
      t.same({ format: shape.format, apdus }, { format: it.expect.format, apdus: it.expect.apdus }, `${it.source}: ${it.note}`);
      if (it.expect.commandTypes !== undefined) t.same(types, it.expect.commandTypes, `${it.source}: command types`);
    }
  }
}
