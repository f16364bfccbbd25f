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
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = `${root}dist/bundle`;
// Built beside and swapped in at the end: a process starting during a rebuild finds a whole bundle.
const nextdir = `${root}dist/bundle-next`;
rmSync(nextdir, { recursive: true, force: true });

// @opentelemetry/configuration loads its config-file parser (yaml and a generated schema validator)
// as soon as it is required, which sdk-node does at start-up; only a declarative config
// file (sdk-node's startNodeSDK with OTEL_CONFIG_FILE) uses them, and register reads none. They are
// built into a CommonJS file of their own, required on first use through a stand-in (bench/startup).
const PARSER_FILE = 'config-file-parser.cjs';
const LAZY = { yaml: 'yaml', './generated/validator': 'validator' };
const sdkNode = createRequire(import.meta.url).resolve('@opentelemetry/sdk-node');
const configurationDir = dirname(createRequire(sdkNode).resolve('@opentelemetry/configuration'));
const deferred = new Set();
/** An esbuild filter matching exactly these specifiers. */
const exactly = (...specifiers) => new RegExp(`^(${specifiers.map((x) => x.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$`);
const deferConfigFileParser = {
  name: 'defer-config-file-parser',
  setup(b) {
    b.onResolve({ filter: exactly(...Object.keys(LAZY)) }, (a) => {
      if (!a.importer.startsWith(configurationDir)) return undefined;
      deferred.add(a.path);
      return { path: a.path, namespace: 'deferred' };
    });
    b.onResolve({ filter: exactly(`./${PARSER_FILE}`) }, (a) => ({ path: a.path, external: true }));
    b.onLoad({ filter: /.*/, namespace: 'deferred' }, (a) => ({
      loader: 'js',
      contents: `let real;
const load = () => (real ??= require('./${PARSER_FILE}')[${JSON.stringify(LAZY[a.path])}]);
module.exports = new Proxy(function () {}, {
  apply: (_, self, args) => Reflect.apply(load(), self, args),
  get: (_, key) => load()[key],
});
`,
    }));
  },
};

// @opentelemetry/resources' CommonJS build reads `.getMachineId` off an `await import()` of its
// machine-id readers, which a split ESM bundle would make a chunk with a default export only (no
// host.id); its ESM build's files export the function by name.
const machineIdFromEsm = {
  name: 'machine-id-from-esm',
  setup(b) {
    b.onResolve({ filter: /^\.\/getMachineId-[a-z]+\.js$/ }, (a) => {
      const cjsDir = `${sep}@opentelemetry${sep}resources${sep}build${sep}src${sep}`;
      if (!a.importer.includes(cjsDir)) return undefined;
      return { path: join(dirname(a.importer.replace(cjsDir, `${sep}@opentelemetry${sep}resources${sep}build${sep}esm${sep}`)), a.path) };
    });
  },
};

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
  plugins: [deferConfigFileParser, machineIdFromEsm],
  legalComments: 'none',
  logLevel: 'warning',
});
// A new sdk-node or configuration that no longer requires them this way fails the build here.
if (deferred.size !== Object.keys(LAZY).length) throw new Error(`bundle: config-file parser not deferred (saw ${[...deferred].join(', ') || 'nothing'})`);
await build({
  absWorkingDir: root,
  stdin: {
    contents: `module.exports = { ${Object.entries(LAZY).map(([spec, name]) => `${name}: require(${JSON.stringify(spec)})`).join(', ')} };`,
    resolveDir: configurationDir,
    loader: 'js',
  },
  outfile: `${nextdir}/${PARSER_FILE}`,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  legalComments: 'none',
  logLevel: 'warning',
});
rmSync(outdir, { recursive: true, force: true });
renameSync(nextdir, outdir);
