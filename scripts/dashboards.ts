/**
 * `npm run dashboards`: writes the Grafana dashboards (built with @grafana/grafana-foundation-sdk,
 * so they are valid by construction) and the copies of deploy/prometheus/rules.yml that Grafana
 * and the Prometheus Operator load. A test regenerates them and fails if the committed files differ.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { grafanaAlertingFile, parseRuleFile, prometheusRuleFile } from './dashboards/alerts.js';
import { toJson } from './dashboards/common.js';
import { overviewDashboard } from './dashboards/overview.js';
import { sensorDashboard } from './dashboards/sensor.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const RULES = 'deploy/prometheus/rules.yml';

export interface Artifact {
  /** Relative to the repository root. */
  path: string;
  text: string;
}

export function renderArtifacts(root: string = ROOT): Artifact[] {
  const groups = parseRuleFile(readFileSync(join(root, RULES), 'utf8'));
  return [
    { path: 'dashboards/aemon-overview.json', text: toJson(overviewDashboard()) },
    { path: 'dashboards/aemon-sensor.json', text: toJson(sensorDashboard()) },
    { path: 'deploy/grafana/provisioning/alerting/aemon.yml', text: grafanaAlertingFile(groups, RULES) },
    { path: 'deploy/k8s/prometheusrule.yaml', text: prometheusRuleFile(groups, RULES) },
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const { path, text } of renderArtifacts()) {
    mkdirSync(dirname(join(ROOT, path)), { recursive: true });
    writeFileSync(join(ROOT, path), text);
    process.stdout.write(`wrote ${path}\n`);
  }
}
