/** Every generated file (repo-relative path -> renderer). A test fails when a committed file drifts from its renderer. */
import { renderMetricsDoc } from './metrics-doc.js';
import { renderSpansDoc } from './spans-doc.js';
import { DASHBOARDS, DASHBOARDS_DIR, renderDashboard } from '../dashboards/index.js';
import { renderAlertRules } from '../alerts/rules.js';

/** Repo-relative path of the committed alert rules (loaded by deploy/prometheus.yml). */
export const ALERT_RULES_FILE = 'deploy/prometheus/alerts.yml';

export const GENERATED_FILES: Record<string, () => string> = {
  'docs/metrics.md': renderMetricsDoc,
  'docs/spans.md': renderSpansDoc,
  [ALERT_RULES_FILE]: () => renderAlertRules(),
  ...Object.fromEntries(DASHBOARDS.map((d) => [`${DASHBOARDS_DIR}/${d.file}`, () => renderDashboard(d)])),
};
