/*
 * Incubating semantic-convention keys of the process's resource, copied from
 * `@opentelemetry/semantic-conventions/incubating` (as the contrib instrumentations do: the
 * incubating entry point may change between minor versions, so it is not imported at run time).
 * Stable keys are imported from `@opentelemetry/semantic-conventions` where they are used.
 */
export const ATTR_HOST_ARCH = 'host.arch' as const;
export const ATTR_HOST_NAME = 'host.name' as const;
export const ATTR_OS_TYPE = 'os.type' as const;
export const ATTR_PROCESS_EXECUTABLE_NAME = 'process.executable.name' as const;
export const ATTR_PROCESS_PID = 'process.pid' as const;
export const ATTR_PROCESS_RUNTIME_NAME = 'process.runtime.name' as const;
export const ATTR_PROCESS_RUNTIME_VERSION = 'process.runtime.version' as const;
export const ATTR_SERVICE_INSTANCE_ID = 'service.instance.id' as const;
export const ATTR_TELEMETRY_DISTRO_NAME = 'telemetry.distro.name' as const;
export const ATTR_TELEMETRY_DISTRO_VERSION = 'telemetry.distro.version' as const;
