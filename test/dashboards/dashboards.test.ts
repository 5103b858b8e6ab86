import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { renderArtifacts } from '../../scripts/dashboards.js';
import { startDemo } from '../deploy/aemon.js';
import { ROOT, requireTool, run, tempDir } from '../deploy/tools.js';
import { GRAFANA_BUILTINS, dashboardQueries, exposedNames, metricNames, substitute } from './queries.js';
import type { DashboardJson, Query } from './queries.js';

const DASHBOARDS = ['dashboards/aemon-overview.json', 'dashboards/aemon-sensor.json'];
const load = (path: string): DashboardJson => JSON.parse(readFileSync(join(ROOT, path), 'utf8')) as DashboardJson;
const allQueries = (): Query[] => DASHBOARDS.flatMap((p) => dashboardQueries(load(p)));

function ruleQueries(): Query[] {
  const doc = parse(readFileSync(join(ROOT, 'deploy/prometheus/rules.yml'), 'utf8')) as {
    groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
  };
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ where: `rules.yml ${r.alert}`, expr: r.expr })));
}

/** Runs `promtool check rules` on the expressions as recording rules: promtool parses every one. */
async function promtoolParses(
  t: Parameters<typeof tempDir>[0],
  queries: readonly Query[],
): Promise<{ code: number | null; output: string }> {
  const vars = { ...GRAFANA_BUILTINS, sensor: 'sensor-1', instance: '.*', datasource: 'prometheus' };
  const rules = queries.map((q, i) => ({ record: `dashboard_query_${i}`, expr: substitute(q.expr, vars) }));
  const file = join(tempDir(t, 'dashboard-queries'), 'queries.yml');
  writeFileSync(file, stringify({ groups: [{ name: 'dashboards', rules }] }));
  const res = await run('promtool', ['check', 'rules', file]);
  return { code: res.code, output: res.stdout + res.stderr };
}

test('the committed dashboards and generated rule copies are what `npm run dashboards` writes', () => {
  for (const { path, text } of renderArtifacts()) {
    const committed = readFileSync(join(ROOT, path), 'utf8');
    assert.ok(
      committed === text,
      `${path} differs from its generator: run \`npm run dashboards\` and commit the result`,
    );
  }
});

test('every PromQL expression of the dashboards parses (promtool check rules), and a broken one would not', async (t) => {
  requireTool('promtool');
  const queries = allQueries();
  assert.ok(queries.length >= 25, `only ${queries.length} queries found`);
  const ok = await promtoolParses(t, queries);
  assert.equal(ok.code, 0, ok.output);
  assert.match(ok.output, new RegExp(`SUCCESS: ${queries.length} rules found`));
  const broken = await promtoolParses(t, [
    ...queries,
    { where: 'broken', expr: 'sum by (sensor (aemon_anomaly_score)' },
  ]);
  assert.notEqual(broken.code, 0, 'promtool accepted an unparsable expression');
  assert.match(broken.output, new RegExp(`dashboard_query_${queries.length}`));
});

test('the metric-name lexer finds metrics, not functions, labels, keywords or durations', () => {
  assert.deepEqual(
    metricNames(
      'histogram_quantile(0.9, sum by (le) (rate(a_bucket{x=~"b|c", y="{z}"}[$__rate_interval] offset 5m))) / on (job) group_left b_total',
    ),
    ['a_bucket', 'b_total'],
  );
  assert.deepEqual(metricNames('time() - max(c_seconds > 0) and d == 1 unless vector(1)'), ['c_seconds', 'd']);
});

test('dashboards and alert rules use only metrics a real aemon exports (its /metrics), and cover what the overview promises', async (t) => {
  const demo = await startDemo(t, { duration: '60s' });
  // The families are declared (# TYPE) from start-up, before any reading: no need to wait for data.
  const body = await (await fetch(`${demo.url}/metrics`)).text();
  const exported = exposedNames(body);
  assert.ok(
    exported.has('aemon_anomaly_score') && exported.has('aemon_event_to_score_seconds_bucket'),
    body.slice(0, 500),
  );
  exported.add('up'); // Prometheus' own per-target series (AemonDown)

  const unknown = [...allQueries(), ...ruleQueries()].flatMap((q) =>
    metricNames(q.expr)
      .filter((n) => !exported.has(n))
      .map((n) => `${q.where}: ${n}`),
  );
  assert.deepEqual(unknown, []);
  // The check itself can fail: a name aemon does not export is caught.
  assert.deepEqual(
    metricNames('rate(aemon_readings_totals[5m])').filter((n) => !exported.has(n)),
    ['aemon_readings_totals'],
  );

  const used = (path: string): Set<string> => new Set(dashboardQueries(load(path)).flatMap((q) => metricNames(q.expr)));
  const overview = used(DASHBOARDS[0]!);
  for (const name of [
    'aemon_sensors', // sensors by state
    'aemon_anomaly_score', // scores vs threshold, top sensors
    'aemon_anomaly', // open anomalies
    'aemon_channel_error', // top channels
    'aemon_readings_total', // throughput
    'aemon_windows_scored_total',
    'aemon_event_to_score_seconds_bucket', // event → score latency
    'aemon_kafka_lag',
    'aemon_readings_rejected_total', // DLQ rate
    'aemon_model_info', // model version
    'aemon_training_runs_total',
  ]) {
    assert.ok(overview.has(name), `the overview has no panel on ${name}`);
  }
  const sensor = used(DASHBOARDS[1]!);
  for (const name of ['aemon_anomaly_score', 'aemon_threshold', 'aemon_channel_error', 'aemon_anomaly'])
    assert.ok(sensor.has(name), `the sensor dashboard has no ${name}`);
  await demo.stop();
});

test('the per-sensor dashboard is driven by its sensor variable and marks anomalies as annotations', () => {
  const d = load(DASHBOARDS[1]!);
  const sensorVar = d.templating?.list?.find((v) => v.name === 'sensor');
  assert.equal(sensorVar?.type, 'query');
  assert.equal(sensorVar?.query, 'label_values(aemon_anomaly_score, sensor)');
  for (const q of dashboardQueries(d).filter((x) => !x.where.includes('variable')))
    assert.match(q.expr, /sensor="\$sensor"/, q.where);
  const anomalies = d.annotations?.list?.find((a) => a.name === 'Anomalies');
  assert.match(anomalies?.expr ?? '', /aemon_anomaly\{sensor="\$sensor"\}\) == 1/);
});

test('both dashboards: stable uids, unique panel ids, the datasource variable everywhere, no overlapping panels', () => {
  assert.deepEqual(
    DASHBOARDS.map((p) => load(p).uid),
    ['aemon-overview', 'aemon-sensor'],
  );
  for (const path of DASHBOARDS) {
    const d = load(path) as unknown as {
      panels: Array<{
        id: number;
        type: string;
        datasource?: { uid: string };
        gridPos: { x: number; y: number; w: number; h: number };
      }>;
    };
    const ids = d.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `${path}: duplicate panel ids`);
    for (const p of d.panels.filter((x) => x.type !== 'row'))
      assert.equal(p.datasource?.uid, '${datasource}', `${path} panel ${p.id}`);
    const cells = new Set<string>();
    for (const { id, gridPos: g } of d.panels) {
      assert.ok(g.x >= 0 && g.x + g.w <= 24, `${path} panel ${id} is outside the grid`);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          assert.ok(!cells.has(`${x},${y}`), `${path} panel ${id} overlaps another at ${x},${y}`);
          cells.add(`${x},${y}`);
        }
      }
    }
  }
});
