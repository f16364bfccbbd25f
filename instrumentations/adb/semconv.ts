/*
 * Incubating semantic-convention keys this instrumentation writes, copied from
 * `@opentelemetry/semantic-conventions/incubating` (as the contrib instrumentations do: the
 * incubating entry point may change between minor versions, so it is not imported at run time).
 */
export const ATTR_PROCESS_COMMAND_ARGS = 'process.command_args' as const;
export const ATTR_PROCESS_EXECUTABLE_NAME = 'process.executable.name' as const;
export const ATTR_PROCESS_EXIT_CODE = 'process.exit.code' as const;
