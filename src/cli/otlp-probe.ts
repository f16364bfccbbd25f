/**
 * `test --otlp`: one empty OTLP ExportTraceServiceRequest to the configured endpoint, to prove that
 * an OTLP receiver answers there (and accepts our headers), without sending any telemetry.
 *
 * gRPC: the request message is empty, so its protobuf encoding is zero bytes and no OTLP encoder
 * is needed; the call is a plain unary gRPC call through `@grpc/grpc-js`. grpc-js is not one of
 * our own dependencies but a dependency of the OTLP gRPC exporter we ship with, so it is resolved
 * from there (exporter -> otlp-grpc-exporter-base -> @grpc/grpc-js): whichever copy the exporter
 * uses, we use, with no new dependency. http/protobuf: an empty POST body to the traces URL.
 */
import { createRequire } from 'node:module';
import http from 'node:http';
import https from 'node:https';
import { oneLine } from './errors.js';

export const TRACE_EXPORT_METHOD = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

export interface OtlpProbeResult {
  ok: boolean;
  /** A gRPC status name (`OK`, `UNAVAILABLE` ...), `HTTP 200`, `unreachable` or `error`. */
  outcome: string;
  detail: string;
  durationMs: number;
}

// The parts of @grpc/grpc-js used here (its types are not ours to import).
interface GrpcMetadata {
  set(key: string, value: string): void;
}
interface GrpcServiceError extends Error {
  code: number;
  details: string;
}
interface GrpcClient {
  makeUnaryRequest(
    method: string,
    serialize: (v: Buffer) => Buffer,
    deserialize: (b: Buffer) => Buffer,
    argument: Buffer,
    metadata: GrpcMetadata,
    options: { deadline: Date },
    callback: (err: GrpcServiceError | null, value?: Buffer) => void,
  ): unknown;
  close(): void;
}
interface GrpcModule {
  Client: new (address: string, credentials: unknown, options?: Record<string, unknown>) => GrpcClient;
  credentials: { createInsecure(): unknown; createSsl(): unknown };
  Metadata: new () => GrpcMetadata;
  status: Record<string, number | string>;
}

let grpcModule: GrpcModule | undefined;

/** @grpc/grpc-js as the OTLP gRPC exporter resolves it. */
export function loadGrpc(): GrpcModule {
  if (grpcModule) return grpcModule;
  const fromHere = createRequire(import.meta.url);
  const exporter = fromHere.resolve('@opentelemetry/exporter-trace-otlp-grpc');
  const base = createRequire(exporter).resolve('@opentelemetry/otlp-grpc-exporter-base');
  grpcModule = createRequire(base)('@grpc/grpc-js') as GrpcModule;
  return grpcModule;
}

/**
 * `OTEL_EXPORTER_OTLP_HEADERS` format: `k=v,k2=v2`, values percent-encoded. Malformed entries are
 * skipped (the exporter would skip them too).
 */
export function parseOtlpHeaders(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === undefined) return out;
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const k = part.slice(0, eq).trim().toLowerCase();
    let v = part.slice(eq + 1).trim();
    try {
      v = decodeURIComponent(v);
    } catch {
      /* keep as written */
    }
    if (k !== '') out[k] = v;
  }
  return out;
}

const GRPC_HINTS: Record<string, string> = {
  UNAVAILABLE: 'nothing answers gRPC there (down, wrong port, or a TLS/plaintext mismatch)',
  UNIMPLEMENTED: 'a gRPC server answers but it is not an OTLP trace receiver',
  DEADLINE_EXCEEDED: 'no answer in time',
  UNAUTHENTICATED: 'the receiver wants credentials: check OTEL_EXPORTER_OTLP_HEADERS',
  PERMISSION_DENIED: 'the receiver refused our credentials: check OTEL_EXPORTER_OTLP_HEADERS',
  RESOURCE_EXHAUSTED: 'the receiver is throttling',
};

function statusName(g: GrpcModule, code: number): string {
  for (const [k, v] of Object.entries(g.status)) if (v === code) return k;
  return `code ${code}`;
}

export function probeOtlpGrpc(endpoint: string, headers: Record<string, string>, timeoutMs: number): Promise<OtlpProbeResult> {
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  let g: GrpcModule;
  let address: string;
  let secure: boolean;
  try {
    g = loadGrpc();
    const u = new URL(endpoint);
    secure = u.protocol === 'https:';
    address = `${u.hostname.includes(':') ? `[${u.hostname}]` : u.hostname}:${u.port || (secure ? '443' : '4317')}`;
  } catch (e) {
    return Promise.resolve({ ok: false, outcome: 'error', detail: oneLine(e), durationMs: elapsed() });
  }
  return new Promise((resolve) => {
    const client = new g.Client(address, secure ? g.credentials.createSsl() : g.credentials.createInsecure(), {
      'grpc.max_reconnect_backoff_ms': timeoutMs,
    });
    const md = new g.Metadata();
    for (const [k, v] of Object.entries(headers)) md.set(k, v);
    const id = (b: Buffer): Buffer => b;
    client.makeUnaryRequest(TRACE_EXPORT_METHOD, id, id, Buffer.alloc(0), md, { deadline: new Date(Date.now() + timeoutMs) }, (err) => {
      client.close();
      if (err === null) {
        resolve({ ok: true, outcome: 'OK', detail: `an empty ExportTraceServiceRequest was accepted by ${address}`, durationMs: elapsed() });
        return;
      }
      const name = statusName(g, err.code);
      const hint = GRPC_HINTS[name];
      // grpc-js details can run long ("... Resolution note: ..."): the first sentence is enough.
      const details = (err.details ?? '').split(/\. (?:Last error|Resolution note)/)[0]?.slice(0, 160) ?? '';
      resolve({
        ok: false,
        outcome: name,
        detail: `${address}: ${[hint, details].filter((x) => x !== undefined && x !== '').join('; ')}`,
        durationMs: elapsed(),
      });
    });
  });
}

export function probeOtlpHttp(url: string, headers: Record<string, string>, timeoutMs: number): Promise<OtlpProbeResult> {
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  return new Promise((resolve) => {
    let u: URL;
    try {
      u = new URL(url);
    } catch (e) {
      resolve({ ok: false, outcome: 'error', detail: oneLine(e), durationMs: elapsed() });
      return;
    }
    const lib = u.protocol === 'https:' ? https : http;
    const req = lib.request(
      u,
      { method: 'POST', agent: false, headers: { ...headers, 'content-type': 'application/x-protobuf', 'content-length': '0' } },
      (res) => {
        res.resume();
        res.on('end', () => {
          const code = res.statusCode ?? 0;
          const ok = code >= 200 && code < 300;
          resolve({
            ok,
            outcome: `HTTP ${code}`,
            detail: ok ? `an empty ExportTraceServiceRequest was accepted by ${u.host}` : `${u.host} refused an empty ExportTraceServiceRequest`,
            durationMs: elapsed(),
          });
        });
      },
    );
    // A deadline for the whole exchange, not an idle timer (a trickling server would reset it).
    const deadline = setTimeout(() => {
      req.destroy();
      resolve({ ok: false, outcome: 'unreachable', detail: `${u.host}: no answer within ${timeoutMs} ms`, durationMs: elapsed() });
    }, timeoutMs);
    req.on('close', () => clearTimeout(deadline));
    req.on('error', (e) => resolve({ ok: false, outcome: 'unreachable', detail: `${u.host}: ${oneLine(e)}`, durationMs: elapsed() }));
    req.end();
  });
}
