// `npm test`'s pretest step: makes sure the Go-built test peers (test/peers/build.sh) are there.
// Cached per machine, so this is a quick check after the first build; without Go, or if the build
// fails, it says so and the backend tests fail with the command to run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const hasGo = spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0 || existsSync('/usr/local/go/bin/go');
if (!hasGo) {
  console.error('test peers: Go not found; the backend tests need `bash test/peers/build.sh` (see the README).');
} else {
  const r = spawnSync('bash', ['test/peers/build.sh'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) console.error('test peers: test/peers/build.sh failed; the backend tests will say what is missing.');
}
