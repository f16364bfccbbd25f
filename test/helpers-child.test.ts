// The child-process runner and freePort() from test/helpers/child.ts, on tiny inline scripts
// (register.js itself is tested elsewhere).
import t from 'tap';
import net from 'node:net';
import { freePort, runNode, REGISTER_PATH, REPO_ROOT } from './helpers/child.js';

const esm = (code: string): string[] => ['--input-type=module', '-e', code];

t.test('captures stdout/stderr, waits for lines and for the exit code', async (tt) => {
  const c = runNode({
    args: esm(`
      console.log('first line');
      console.error('warn: on stderr');
      process.stdout.write('partial');
      setTimeout(() => { console.log(' done'); process.exit(3); }, 50);
    `),
    t: tt,
  });
  tt.equal(await c.waitForLine(/^first/), 'first line');
  tt.equal(await c.waitForLine(/^warn:/), 'warn: on stderr', 'stderr lines count too');
  tt.equal(await c.waitForLine(/partial done/), 'partial done', 'a line split across writes');
  tt.same(await c.waitForExit(5000), { code: 3, signal: null });
  tt.equal(c.stdout(), 'first line\npartial done\n');
  tt.equal(c.stderr(), 'warn: on stderr\n');
  // Lines already seen still match after exit.
  tt.equal(await c.waitForLine(/first/), 'first line');
  await tt.rejects(c.waitForLine(/never printed/), /exited .* without a line matching/);
});

t.test('environment, cwd and NODE_OPTIONS isolation', async (tt) => {
  const saved = process.env['CHILD_TEST_REMOVE_ME'];
  process.env['CHILD_TEST_REMOVE_ME'] = 'present';
  tt.teardown(() => {
    if (saved === undefined) delete process.env['CHILD_TEST_REMOVE_ME'];
    else process.env['CHILD_TEST_REMOVE_ME'] = saved;
  });
  const c = runNode({
    args: esm(`console.log(JSON.stringify({
      foo: process.env.FOO, removed: process.env.CHILD_TEST_REMOVE_ME ?? null,
      nodeOptions: process.env.NODE_OPTIONS ?? '', cwd: process.cwd() }))`),
    env: { FOO: 'bar', CHILD_TEST_REMOVE_ME: undefined },
    t: tt,
  });
  await c.waitForExit(5000);
  const seen = JSON.parse(c.stdout()) as { foo: string; removed: null; nodeOptions: string; cwd: string };
  tt.same({ foo: seen.foo, removed: seen.removed, cwd: seen.cwd }, { foo: 'bar', removed: null, cwd: REPO_ROOT });
  // Under tap, @tapjs/processinfo re-adds its own --import to every child's NODE_OPTIONS at
  // spawn time (it only records process info); nothing else may be there.
  const foreign = seen.nodeOptions.split(/\s+/).filter((tok) => tok !== '' && !tok.includes('@tapjs/processinfo'));
  tt.same(foreign, [], 'no inherited NODE_OPTIONS');

  const withOpts = runNode({
    args: esm('console.log(process.env.NODE_OPTIONS)'),
    env: { NODE_OPTIONS: '--no-warnings' },
    cwd: '/',
    t: tt,
  });
  tt.match(await withOpts.waitForLine(/./), /--no-warnings/, 'NODE_OPTIONS when asked');
});

t.test('kill(), the hard timeout, and waitFor timeouts', async (tt) => {
  const c = runNode({ args: esm(`console.log('ready'); setInterval(() => {}, 1000);`), t: tt });
  await c.waitForLine(/ready/);
  await tt.rejects(c.waitForExit(100), /still running after 100 ms[\s\S]*ready/);
  await tt.rejects(c.waitForLine(/nothing/, 100), /no line matching \/nothing\/ within 100 ms/);
  c.kill('SIGTERM');
  tt.same(await c.waitForExit(5000), { code: null, signal: 'SIGTERM' });
  c.kill(); // no-op after exit

  const hung = runNode({ args: esm('setInterval(() => {}, 1000)'), timeoutMs: 300, t: tt });
  const started = Date.now();
  tt.same(await hung.waitForExit(5000), { code: null, signal: 'SIGKILL' });
  tt.ok(Date.now() - started >= 250, 'killed by the hard limit, not before');
});

t.test('a child still running when its test ends is killed', async (tt) => {
  let leaked: ReturnType<typeof runNode> | undefined;
  await tt.test('inner', async (st) => {
    leaked = runNode({ args: esm(`console.log('up'); setInterval(() => {}, 1000);`), t: st });
    await leaked.waitForLine(/up/);
  });
  tt.ok(leaked);
  tt.same(await leaked?.waitForExit(5000), { code: null, signal: 'SIGKILL' });
});

t.test('importRegister puts --import <repo>/register.js first', async (tt) => {
  // --version exits before any --import module is loaded: only the argument list is checked here.
  const c = runNode({ args: ['--version'], importRegister: true, t: tt });
  tt.same(c.child.spawnargs.slice(1), ['--import', REGISTER_PATH, '--version']);
  tt.equal(REGISTER_PATH, `${REPO_ROOT}/register.js`);
  tt.match(await c.waitForLine(/^v\d+\./), /^v20|^v2\d/);
  tt.same(await c.waitForExit(5000), { code: 0, signal: null });
});

t.test('freePort() returns a port that can be bound on 127.0.0.1', async (tt) => {
  const a = await freePort();
  const b = await freePort();
  tt.ok(a > 0 && a < 65536 && b > 0 && b < 65536);
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(a, '127.0.0.1', resolve);
  });
  tt.teardown(() => new Promise<void>((resolve) => srv.close(() => resolve())));
  const addr = srv.address();
  tt.equal(typeof addr === 'object' && addr ? addr.port : 0, a);
});
