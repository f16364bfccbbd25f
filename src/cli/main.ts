#!/usr/bin/env node
/** The `cardlink-metrics` executable (package.json "bin"). */
import { runCli } from './program.js';
import { processIo } from './io.js';

const code = await runCli(process.argv.slice(2), processIo());
// Let pending stdout writes drain (a pipe may be slow) rather than cutting them off with process.exit().
process.exitCode = code;
