/**
 * Zero-code entry point:
 *
 *     node --import ./register.js app.js                 (from this repository)
 *     node --import cardlink-otel/register app.js        (from a project that depends on it)
 *
 * Registers the ESM loader hook before any instrumentation is constructed, then starts the SDK
 * from the environment. Top-level await: the application's first import runs only after the
 * instrumentations are in place, so ESM and CommonJS imports alike are patched.
 */
import { isMainThread } from 'node:worker_threads';
import { start } from './src/sdk.js';

// Worker threads inherit `--import`: the process's telemetry (one SDK, its listeners and its
// patches) is its main thread's, so a worker starts nothing.
if (isMainThread) await start({ registerEsmHook: true });
