import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import {
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  ATTR_TELEMETRY_SDK_LANGUAGE,
  ATTR_TELEMETRY_SDK_NAME,
  TELEMETRY_SDK_LANGUAGE_VALUE_NODEJS,
} from '@opentelemetry/semantic-conventions';
import type { CardlinkConfig } from './config.js';
import {
  ATTR_HOST_ARCH,
  ATTR_HOST_NAME,
  ATTR_OS_TYPE,
  ATTR_PROCESS_EXECUTABLE_NAME,
  ATTR_PROCESS_PID,
  ATTR_PROCESS_RUNTIME_NAME,
  ATTR_PROCESS_RUNTIME_VERSION,
  ATTR_SERVICE_INSTANCE_ID,
  ATTR_TELEMETRY_DISTRO_NAME,
  ATTR_TELEMETRY_DISTRO_VERSION,
} from './semconv.js';
import { VERSION } from './version.js';

/**
 * service.*, host.* and process.* attributes, computed synchronously (no async detectors: the
 * Prometheus `target_info` and the first OTLP export must not wait for them). OTEL_RESOURCE_ATTRIBUTES
 * may override anything but service.name, which OTEL_SERVICE_NAME decides (OTel spec precedence).
 * Command-line arguments are deliberately absent: they may carry secrets.
 *
 * service.instance.id is a UUID per process unless OTEL_RESOURCE_ATTRIBUTES names one: on the OTLP
 * path it becomes the `instance` label, so two processes of one service stay two series.
 */
export function buildResource(config: CardlinkConfig): Resource {
  return resourceFromAttributes({
    [ATTR_SERVICE_VERSION]: VERSION,
    [ATTR_TELEMETRY_SDK_NAME]: 'opentelemetry',
    [ATTR_TELEMETRY_SDK_LANGUAGE]: TELEMETRY_SDK_LANGUAGE_VALUE_NODEJS,
    [ATTR_TELEMETRY_DISTRO_NAME]: 'cardlink-otel',
    [ATTR_TELEMETRY_DISTRO_VERSION]: VERSION,
    [ATTR_HOST_NAME]: hostname(),
    [ATTR_HOST_ARCH]: process.arch,
    [ATTR_OS_TYPE]: process.platform,
    [ATTR_PROCESS_PID]: process.pid,
    [ATTR_PROCESS_RUNTIME_NAME]: 'nodejs',
    [ATTR_PROCESS_RUNTIME_VERSION]: process.versions.node,
    [ATTR_PROCESS_EXECUTABLE_NAME]: 'node',
    [ATTR_SERVICE_INSTANCE_ID]: randomUUID(),
    ...config.resourceAttributes,
    [ATTR_SERVICE_NAME]: config.serviceName,
  });
}
