/**
 * The AT corpus (test/fixtures/real-world/at/*.json: ModemManager, ofono, CardLink, vendor manuals)
 * run over the pure AT decoder. See each file's description for its fields.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { AtDecoder, parseAtCommandLine, type AtCommandEndEvent, type AtUrcEvent } from '../../instrumentations/serialport/at.js';
import { commandLineForSpan } from '../../instrumentations/serialport/modem-recorder.js';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'real-world', 'at');

interface Item<I, E> {
  source: string;
  note?: string;
  input: I;
  expect: E;
}
interface Corpus<I, E> {
  description: string;
  items: Item<I, E>[];
}

function load<I, E>(file: string): Corpus<I, E> {
  return JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Corpus<I, E>;
}

/** Feeds steps 10 ms apart, then a tick past every deadline; returns the command ends and URCs. */
function decode(steps: ReadonlyArray<readonly ['w' | 'r', string]>): { ends: AtCommandEndEvent[]; urcs: AtUrcEvent[]; d: AtDecoder } {
  const ends: AtCommandEndEvent[] = [];
  const urcs: AtUrcEvent[] = [];
  const d = new AtDecoder({ commandEnd: (e) => ends.push(e), urc: (e) => urcs.push(e) });
  let now = 0;
  for (const [dir, text] of steps) {
    now += 10;
    const bytes = Buffer.from(text, 'latin1');
    if (dir === 'w') d.written(bytes, now);
    else d.read(bytes, now);
  }
  d.tick(now + 120_000);
  return { ends, urcs, d };
}

const label = (it: { source: string }, what: string): string => `${it.source}: ${JSON.stringify(what).slice(0, 90)}`;

export function runCorpus(t: Test): void {
  const finals = load<{ steps: Array<['w' | 'r', string]> }, { commands: Array<[string, string, string | null]>; urcs: string[] }>(
    'final-results.json',
  );
  const urcs = load<{ line: string }, { name: string }>('urcs.json');
  const names = load<{ commandLine: string }, { name: string; kind: string }>('command-names.json');
  const secrets = load<{ commandLine: string }, { shown: string }>('secret-arguments.json');
  for (const c of [finals, urcs, names, secrets]) t.ok(c.items.length > 0 && c.items.every((i) => i.source.length > 0), c.description.slice(0, 60));

  for (const it of finals.items) {
    const { ends, urcs: seen, d } = decode(it.input.steps);
    const what = label(it, it.input.steps.map((s) => s[1]).join(''));
    t.same(
      ends.map((e) => [e.name, e.result, e.errorCode ?? null]),
      it.expect.commands,
      what,
    );
    t.same(seen.map((u) => u.name), it.expect.urcs, `${what}: URCs`);
    t.equal(d.stats.internalErrors + d.stats.listenerErrors, 0);
  }

  for (const it of urcs.items) {
    const line = it.input.line;
    // Nothing pending: a URC of that name.
    const alone = decode([['r', `\r\n${line}\r\n`]]);
    t.same(alone.urcs.map((u) => u.name), [it.expect.name], label(it, line));
    // While a command is answered: still that URC, and not one of the command's lines.
    const during = decode([
      ['w', 'AT+CSQ\r'],
      ['r', `AT+CSQ\r\r\n${line}\r\n\r\n+CSQ: 20,99\r\n\r\nOK\r\n`],
    ]);
    t.same(during.urcs.map((u) => u.name), [it.expect.name], `${label(it, line)} during a command`);
    t.same(during.ends.map((e) => [e.name, e.result, e.lines]), [['+CSQ', 'ok', ['+CSQ: 20,99']]], `${label(it, line)}: the command keeps its own lines`);
  }

  for (const it of names.items) {
    const info = parseAtCommandLine(it.input.commandLine);
    t.same([info.name, info.kind], [it.expect.name, it.expect.kind], label(it, it.input.commandLine));
    // Written as CardLink writes it (CR LF, echo on): the same name reaches the command's end.
    const { ends } = decode([
      ['w', `${it.input.commandLine}\r\n`],
      ['r', `${it.input.commandLine}\r\r\nOK\r\n`],
    ]);
    t.same(ends.map((e) => [e.name, e.result, e.echoed]), [[it.expect.name, 'ok', true]], `${label(it, it.input.commandLine)} over CR LF`);
  }

  for (const it of secrets.items) {
    t.equal(commandLineForSpan(it.input.commandLine, true), it.expect.shown, label(it, it.input.commandLine));
  }
}
