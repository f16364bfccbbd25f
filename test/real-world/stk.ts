/**
 * The STK corpus (test/fixtures/real-world/stk/*.json: ofono's conformance vectors, pySim's
 * information elements, the modem and phone dialects) run over the pure decoders: the proactive
 * command decoder, the AT dialects (URCs and terminal responses) and the radio-log lines.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { decodeStkHex, type StkMessage } from '../../instrumentations/shared/stk.js';
import { stkFromCommand, stkFromUrc, STK_RESPONSE_COMMANDS, STK_URC_NAMES } from '../../instrumentations/serialport/stk-urc.js';
import { stkFromLogcatLine } from '../../instrumentations/adb/logcat-stk.js';
import { AtDecoder, type AtCommandStartEvent, type AtUrcEvent } from '../../instrumentations/serialport/at.js';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'real-world', 'stk');

interface Item<I> {
  source: string;
  note: string;
  input: I;
  expect: Partial<StkMessage> | null;
}

function load<I>(file: string): Item<I>[] {
  return (JSON.parse(readFileSync(join(DIR, file), 'utf8')) as { items: Item<I>[] }).items;
}

/** The fields the item names, read from what the decoder returned. */
function pick(m: StkMessage | null, expect: Partial<StkMessage> | null): Partial<StkMessage> | null {
  if (m === null || expect === null) return m === null ? null : { command: m.command };
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(expect)) out[k] = (m as unknown as Record<string, unknown>)[k];
  return out as Partial<StkMessage>;
}

/** What the AT stream decoder reports for a URC line read from the modem, or a command line written. */
function throughAtDecoder(form: 'at-urc' | 'at-command', line: string): { name: string; text: string } | null {
  let got: { name: string; text: string } | null = null;
  const d = new AtDecoder({
    urc: (e: AtUrcEvent) => (got ??= { name: e.name, text: e.line }),
    commandStart: (e: AtCommandStartEvent) => (got ??= { name: e.name, text: e.text }),
  });
  if (form === 'at-urc') d.read(Buffer.from(`\r\n${line}\r\n`, 'latin1'), 1);
  else d.written(Buffer.from(`${line}\r`, 'latin1'), 1);
  return got;
}

export function runCorpus(t: Test): void {
  const commands = load<{ hex: string }>('commands.json');
  t.ok(commands.length > 0, 'commands.json has items');
  for (const it of commands) {
    t.ok(it.source.length > 0, `a source for ${it.note}`);
    t.same(pick(decodeStkHex(it.input.hex), it.expect), it.expect, `${it.source}: ${it.note}`);
  }

  const lines = load<{ form: 'at-urc' | 'at-command' | 'logcat'; line: string; name?: string }>('lines.json');
  t.ok(lines.length > 0, 'lines.json has items');
  for (const it of lines) {
    const { form, line, name } = it.input;
    let m: StkMessage | null;
    if (form === 'logcat') m = stkFromLogcatLine(line)?.message ?? null;
    else {
      // The AT decoder finds the line and names it; the dialect reads what it carries.
      const seen = throughAtDecoder(form, line);
      t.equal(seen?.name, name, `${it.source}: the AT decoder names ${JSON.stringify(line.slice(0, 24))}`);
      t.ok((form === 'at-urc' ? STK_URC_NAMES : STK_RESPONSE_COMMANDS).has(name ?? ''), `${name} is a known STK dialect`);
      m = seen === null ? null : form === 'at-urc' ? stkFromUrc(seen.name, seen.text) : stkFromCommand(seen.name, seen.text);
    }
    t.same(pick(m, it.expect), it.expect, `${it.source}: ${it.note}`);
  }
}
