/**
 * The adb corpus (test/fixtures/real-world/adb/*.json: AOSP adb sources, public reports, CardLink's
 * phone controller) run over the pure adb decoder. See each file's description for its fields.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { classifyAdbError, commandArgsForSpan, decodeAdbArgs, phoneActions } from '../../instrumentations/adb/adb.js';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'real-world', 'adb');

interface Corpus<I, E> {
  description: string;
  items: Array<{ source: string; note?: string; input: I; expect: E }>;
}

function load<I, E>(file: string): Corpus<I, E> {
  return JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Corpus<I, E>;
}

export function runCorpus(t: Test): void {
  const errors = load<{ stderr: string; stdout?: string; exitCode: number; executableName?: string }, { errorType: string }>('errors.json');
  const phone = load<{ args: string[] }, { atCommand: string | null; smsMethod: string | null; commandArgs: string[] }>('phone-commands.json');
  for (const c of [errors, phone]) t.ok(c.items.length > 0 && c.items.every((i) => i.source.length > 0), c.description.slice(0, 60));

  for (const it of errors.items) {
    const got = classifyAdbError({ exitCode: it.input.exitCode, stderr: it.input.stderr, stdout: it.input.stdout ?? null, executableName: it.input.executableName ?? null });
    t.equal(got, it.expect.errorType, `${it.source}: ${JSON.stringify(it.input.stderr).slice(0, 90)}`);
  }

  for (const it of phone.items) {
    const decoded = decodeAdbArgs(it.input.args);
    const a = phoneActions(decoded);
    const what = `${it.source}: ${it.input.args.join(' ').slice(0, 90)}`;
    t.same([a.atCommand, a.smsMethod], [it.expect.atCommand, it.expect.smsMethod], what);
    const span = commandArgsForSpan(decoded);
    t.same(span, it.expect.commandArgs, `${what}: command args`);
    // Nothing after the remote program's name leaves the process: no serial, AT argument, PDU or number.
    const shell = it.input.args.includes('shell') ? (it.input.args.at(-1) ?? '') : '';
    const remoteArgs = shell.split(/[\s'"=,]+/).slice(1);
    for (const secret of [it.input.args[1] ?? '', ...remoteArgs].filter((w) => w.length >= 6 && !w.startsWith('-'))) {
      t.notOk(span.some((w) => w.includes(secret)), `${what}: ${secret.slice(0, 12)} not exported`);
    }
  }
}
