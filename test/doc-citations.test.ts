/**
 * Every document the repository cites is in the repository: a Markdown file named in code,
 * comments, tests or docs must exist (beside the citing file, from the repository root, or under
 * docs/), and no file cites the design notes that live outside the repository.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from './helpers/child.js';

const OUTSIDE = ['DESIGN', 'md'].join('.'); // spelt apart so this file does not cite it
const TEXT = /\.(ts|mjs|cjs|js|md|json|ya?ml|sh|alloy)$|(^|\/)run$/;

const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f !== '' && TEXT.test(f) && !f.startsWith('test/fixtures/real-world/') && existsSync(join(REPO_ROOT, f)));

t.test('no file cites a document outside the repository', async (t) => {
  t.ok(files.length > 100, `${files.length} files read`);
  const citing = files.filter((f) => readFileSync(join(REPO_ROOT, f), 'utf8').includes(OUTSIDE));
  t.same(citing, [], `no file names ${OUTSIDE}`);
});

t.test('every cited Markdown document exists', async (t) => {
  const missing: string[] = [];
  const cite = /(?<![\w/.-])((?:\.{1,2}\/)?[\w-]+(?:\/[\w.-]+)*\.md)\b/g;
  for (const f of files) {
    const text = readFileSync(join(REPO_ROOT, f), 'utf8');
    for (const m of text.matchAll(cite)) {
      const name = m[1]!;
      const found = [join(REPO_ROOT, dirname(f), name), join(REPO_ROOT, name), join(REPO_ROOT, 'docs', name)].some((p) => existsSync(p));
      if (!found) missing.push(`${f}: ${name}`);
    }
  }
  t.same(missing, [], 'cited documents that are not in the repository');
});
