/**
 * The Grafana dashboards of cardlink-otel, generated from the specs in this folder (metric names
 * typed against src/metrics/catalogue.ts). `deploy/grafana/dashboards/*.json` are these files (a
 * test fails when they drift); `cardlink-metrics dashboards export DIR` writes them anywhere.
 */
import { renderDashboardModel, type DashboardSpec } from './grafana.js';
import { otaOverview } from './ota-overview.js';
import { apduAnalysis } from './apdu-analysis.js';
import { tlsPsk } from './tls-psk.js';
import { deviceStatus } from './device-status.js';
import { testResults } from './test-results.js';
import { processDashboard } from './process.js';

export type { DashboardSpec, PanelSpec, QuerySpec } from './grafana.js';
export { dashboardQueries } from './grafana.js';

export const DASHBOARDS: readonly DashboardSpec[] = [otaOverview, apduAnalysis, tlsPsk, deviceStatus, testResults, processDashboard];

/** The dashboard JSON file text (2-space indented, trailing newline). */
export function renderDashboard(spec: DashboardSpec): string {
  return `${JSON.stringify(renderDashboardModel(spec), null, 2)}\n`;
}

/** Repo-relative directory of the committed dashboards (Grafana's file provider reads it in docker-compose). */
export const DASHBOARDS_DIR = 'deploy/grafana/dashboards';
