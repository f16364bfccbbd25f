// The bundle defers @opentelemetry/configuration's config-file parser (yaml and its schema
// validator) to first use (scripts/bundle.mjs): register's start-up does not load it, and
// sdk-node's startNodeSDK still reads, substitutes and validates a config file through it.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runNode, REPO_ROOT } from './helpers/child.js';

const APP = join(REPO_ROOT, 'test/fixtures/apps/config-file-parser-app.mjs');

interface FileResult {
  file: string;
  errors: string[];
  loaded: boolean;
}

async function readConfigs(t: Test, disabled: string, files: string[]): Promise<{ start: { loadedAtStart: boolean }; results: FileResult[] }> {
  const child = runNode({ t, importRegister: true, args: [APP, ...files], env: { CFG_DISABLED: disabled, CARDLINK_HEALTH_ENABLED: 'false' } });
  const exit = await child.waitForExit();
  t.equal(exit.code, 0, child.stderr());
  const [start, ...results] = child
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
  return { start, results };
}

t.test('the config-file parser is loaded on first use, and works', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'cardlink-config-file-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const valid = file('valid.yaml', 'file_format: "1.0"\ndisabled: true\n');
  const substituted = file('substituted.yaml', 'file_format: "1.0"\ndisabled: ${CFG_DISABLED}\n');
  const invalid = file('invalid.yaml', 'file_format: "1.0"\ndisabled: "maybe"\n');
  const unparsable = file('unparsable.yaml', 'file_format: "1.0"\ndisabled: [true\n');

  const a = await readConfigs(t, 'true', [valid, substituted, invalid, unparsable]);
  t.same(a.start, { loadedAtStart: false }, 'register did not load the parser');
  t.equal(a.results.length, 4);
  t.ok(a.results.every((r) => r.loaded), 'loaded once a file was read');
  t.same(a.results[0]!.errors, [], 'a valid file is read without error');
  t.same(a.results[1]!.errors, [], '${CFG_DISABLED}=true substituted');
  t.match(a.results[2]!.errors.join(''), /Invalid OpenTelemetry config file: .*invalid\.yaml: \/disabled must be boolean/, "the validator's errors are read");
  t.match(a.results[3]!.errors.join(''), /Could not load OpenTelemetry configuration/, 'a YAML syntax error is reported');
  t.notMatch(a.results[3]!.errors.join(''), /is not a function|Cannot read propert/, 'by the YAML parser, not by a broken stand-in');

  const b = await readConfigs(t, 'maybe', [substituted]);
  t.match(b.results[0]!.errors.join(''), /substituted\.yaml: \/disabled must be boolean/, 'the substituted value is validated');
});
