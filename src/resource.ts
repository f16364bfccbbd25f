import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import type { CardlinkConfig } from './config.js';
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
    'service.version': VERSION,
    'telemetry.sdk.name': 'opentelemetry',
    'telemetry.sdk.language': 'nodejs',
    'telemetry.distro.name': 'cardlink-otel',
    'telemetry.distro.version': VERSION,
    'host.name': hostname(),
    'host.arch': process.arch,
    'os.type': process.platform,
    'process.pid': process.pid,
    'process.runtime.name': 'nodejs',
    'process.runtime.version': process.versions.node,
    'process.executable.name': 'node',
    'service.instance.id': randomUUID(),
    ...config.resourceAttributes,
    'service.name': config.serviceName,
  });
}
