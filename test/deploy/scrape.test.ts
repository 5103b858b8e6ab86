import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { GRAFANA_BUILTINS, dashboardQueries, substitute } from '../dashboards/queries.js';
import type { DashboardJson } from '../dashboards/queries.js';
import { startDemo } from './aemon.js';
import { DEPLOY, ROOT, startPrometheus, waitFor } from './tools.js';
import type { Sample } from './tools.js';

const RULES = join(DEPLOY, 'prometheus/rules.yml');

interface RuleStatus {
  name: string;
  health: string;
  lastError?: string;
  lastEvaluation: string;
  state?: string;
}

// Panels whose data only exists with Kafka (the demo has none), or only while a sensor is anomalous.
const MAY_BE_EMPTY = [/aemon_kafka_lag/, /^max by \(sensor\) \(aemon_anomaly\{.*\}\) == 1$/];

test("a real Prometheus scrapes a running demo: the flagged sensor's score is queryable, the rules evaluate cleanly, every dashboard query runs", async (t) => {
  const demo = await startDemo(t);
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    'rule_files:',
    `  - ${JSON.stringify(RULES)}`,
    'scrape_configs:',
    '  - job_name: aemon',
    '    static_configs:',
    `      - targets: [${JSON.stringify(demo.target)}]`,
    '',
  ].join('\n');
  const prom = await startPrometheus(t, { config });
  const nonEmpty = (expr: string) => async (): Promise<Sample[] | undefined> => {
    const r = await prom.query(expr);
    return r.length > 0 ? r : undefined;
  };

  await waitFor('Prometheus to scrape the demo (up == 1)', nonEmpty('up{job="aemon"} == 1'), 20_000);
  // An anomaly state that lasted across a scrape (a short one can open and close between two).
  const flagged = await waitFor(
    'aemon to flag a simulated sensor (aemon_anomaly == 1 in a scrape)',
    nonEmpty('max_over_time(aemon_anomaly{job="aemon"}[5m]) == 1'),
    90_000,
  ).catch((err: Error) => {
    throw new Error(
      `${err.message}\ndemo output:\n${demo.output().slice(-3000)}\nprometheus log:\n${prom.log().slice(-2000)}`,
    );
  });
  const sensor = flagged[0]!.metric.sensor!;
  assert.match(sensor, /^sensor-\d$/);

  const score = await prom.query(`aemon_anomaly_score{job="aemon", sensor="${sensor}"}`);
  assert.equal(score.length, 1, JSON.stringify(score));
  const value = Number(score[0]!.value[1]);
  assert.ok(Number.isFinite(value) && value >= 0, `score ${score[0]!.value[1]}`);
  // The counter of opened anomalies agrees.
  const opened = await prom.query(`aemon_anomalies_total{job="aemon", sensor="${sensor}"}`);
  assert.ok(Number(opened[0]?.value[1]) > 0, `aemon_anomalies_total of ${sensor}: ${JSON.stringify(opened)}`);
  // ...and AemonAnomaly saw it: pending (its `for:` is 1m) or firing, for that sensor.
  await waitFor(
    `AemonAnomaly to go pending for ${sensor}`,
    nonEmpty(`max_over_time(ALERTS{alertname="AemonAnomaly", sensor="${sensor}"}[5m])`),
    10_000,
  );
  // Every simulated sensor is scored, and the model in use is exported.
  assert.deepEqual((await prom.query('aemon_anomaly_score')).map((s) => s.metric.sensor).sort(), [
    'sensor-1',
    'sensor-2',
    'sensor-3',
  ]);
  assert.equal((await prom.query('aemon_model_info == 1')).length, 1);

  // The alert rules ran on real data without errors (no many-to-many matches, no bad types).
  const alertNames = (
    parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ alert: string }> }> }
  ).groups
    .flatMap((g) => g.rules.map((r) => r.alert))
    .sort();
  const rules = await waitFor(
    'every rule to be evaluated',
    async () => {
      const data = await prom.api<{ groups: Array<{ rules: RuleStatus[] }> }>('rules');
      const all = data.groups.flatMap((g) => g.rules);
      return all.length > 0 && all.every((r) => !r.lastEvaluation.startsWith('0001')) ? all : undefined;
    },
    10_000,
  );
  assert.deepEqual(rules.map((r) => r.name).sort(), alertNames);
  for (const r of rules) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError}`);
  const alerts = await prom.api<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>('alerts');
  assert.ok(
    alerts.alerts.some((a) => a.labels.alertname === 'AemonWatchdog' && a.state === 'firing'),
    JSON.stringify(alerts),
  );
  assert.ok(!alerts.alerts.some((a) => a.labels.alertname === 'AemonDown'), 'AemonDown while the target is up');

  // Each dashboard query evaluates on this Prometheus, and returns data unless it needs Kafka.
  const vars = { ...GRAFANA_BUILTINS, sensor, instance: '.*' };
  for (const file of ['aemon-overview.json', 'aemon-sensor.json']) {
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'dashboards', file), 'utf8')) as DashboardJson;
    for (const q of dashboardQueries(dashboard)) {
      const expr = substitute(q.expr, vars);
      const result = await prom.query(expr).catch((err: Error) => assert.fail(`${q.where}: ${expr}: ${err.message}`));
      // A series born a scrape ago has one sample, too few for rate() and increase(): give it a few.
      if (result.length === 0 && !MAY_BE_EMPTY.some((re) => re.test(expr)))
        await waitFor(`${q.where}: ${expr} to return data`, nonEmpty(expr), 10_000);
    }
  }
  await demo.stop();
});
