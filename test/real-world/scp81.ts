/**
 * The SCP81 corpus (test/fixtures/real-world/scp81/*.json: bodies as the public CardLink builds
 * them) run over the pure body decoders: each body's format, the APDUs handed over, their types.
 */
import type { Test } from 'tap';
import { eachItem } from './items.js';
import { bytesToHex, commandType, hexToBytes } from '../../instrumentations/shared/apdu.js';
import { walkCommandBody, walkResponseBody } from '../../instrumentations/tls/scp81.js';

interface Item {
  source: string;
  note: string;
  input: { direction: 'command' | 'response'; body: string };
  expect: { format: string; apdus: string[]; commandTypes?: string[] };
}

export function runCorpus(t: Test): void {
  eachItem<Item>(t, 'scp81', (it) => {
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
  });
}
