// Bundles the runtime (register, the public API, the test reporter) with the OpenTelemetry packages
// it uses into dist/bundle/, after tsc. Why: start-up under `--import` is dominated by resolving and
// loading some 230 CommonJS files of the OTel SDK; one ESM graph of a few chunks loads in about
// half the time (bench/startup). The entry points share chunks, so `cardlink-otel`,
// `cardlink-otel/register` and `cardlink-otel/test-reporter` see one SDK state in one process.
//
// Left external: what the application itself loads (the patched packages), native or worker-based
// packages (grpc-js, pino's transports), and import-in-the-middle, whose loader hook is registered by
// module specifier. Every output file sits directly in dist/bundle/, two levels below package.json,
// like dist/src/*.js, so `new URL('../../package.json', import.meta.url)` finds it in both layouts.
import { build } from 'esbuild';
import { renameSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/bundle`;
// Built beside and swapped in at the end: a process starting during a rebuild finds a whole bundle.
const nextdir = `${root}dist/bundle-next`;
rmSync(nextdir, { recursive: true, force: true });

await build({
  absWorkingDir: root,
  entryPoints: {
    register: 'dist/register.js',
    index: 'dist/src/index.js',
    'test-reporter': 'dist/src/test-reporter/index.js',
  },
  outdir: nextdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: '[name]-[hash]',
  // CommonJS dependencies call require() for builtins; an ESM bundle has none of its own.
  banner: { js: "import { createRequire as __cardlinkRequire } from 'node:module'; const require = __cardlinkRequire(import.meta.url);" },
  external: [
    'serialport', '@serialport/*', 'better-sqlite3', 'pg', 'pg-native',
    '@grpc/grpc-js', 'pino', 'import-in-the-middle',
  ],
  legalComments: 'none',
  logLevel: 'warning',
});
rmSync(outdir, { recursive: true, force: true });
renameSync(nextdir, outdir);
