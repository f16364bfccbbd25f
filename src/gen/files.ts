/** Every generated file (repo-relative path -> renderer). Later generators (dashboards, alert rules) register here. */
import { renderMetricsDoc } from './metrics-doc.js';

export const GENERATED_FILES: Record<string, () => string> = {
  'docs/metrics.md': renderMetricsDoc,
};
