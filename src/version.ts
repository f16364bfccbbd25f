import { readFileSync } from 'node:fs';

/** The package version, read once from package.json (two levels up from dist/src/ and from src/ via ../). */
function readVersion(): string {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'cardlink-otel' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* try the next location */
    }
  }
  return '0.0.0';
}

export const VERSION = readVersion();
