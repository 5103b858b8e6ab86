import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { DEPLOY, requireTool, run, tempDir } from './tools.js';

const PROM = join(DEPLOY, 'prometheus');
const RULES = join(PROM, 'rules.yml');
const RULE_TESTS = join(PROM, 'rules.test.yml');

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rulesText = (): string => readFileSync(RULES, 'utf8');
const alertRules = (): AlertRule[] =>
  (parse(rulesText()) as { groups: Array<{ rules: AlertRule[] }> }).groups.flatMap((g) => g.rules);

/**
 * The rule file with one rule's text replaced, next to a copy of the unit tests of that alert only
 * (the AemonModelStale tests evaluate a week of rule evaluations: seconds), in a temp folder.
 */
function mutated(
  t: Parameters<typeof tempDir>[0],
  from: string,
  to: string,
  alert: string,
): { rules: string; tests: string } {
  const dir = tempDir(t, 'rules');
  const text = rulesText();
  assert.ok(text.includes(from), `rules.yml no longer contains ${JSON.stringify(from)}`);
  writeFileSync(join(dir, 'rules.yml'), text.replace(from, to));
  const tests = parse(readFileSync(RULE_TESTS, 'utf8')) as {
    tests: Array<{ alert_rule_test?: Array<{ alertname: string }> }>;
  };
  tests.tests = tests.tests.filter((x) => x.alert_rule_test?.some((c) => c.alertname === alert));
  writeFileSync(join(dir, 'rules.test.yml'), stringify(tests));
  return { rules: join(dir, 'rules.yml'), tests: join(dir, 'rules.test.yml') };
}

test('promtool check rules, test rules and check config pass on deploy/prometheus', async () => {
  requireTool('promtool');
  const check = await run('promtool', ['check', 'rules', RULES]);
  assert.equal(check.code, 0, check.stderr + check.stdout);
  assert.match(check.stdout, new RegExp(`SUCCESS: ${alertRules().length} rules found`));

  const unit = await run('promtool', ['test', 'rules', RULE_TESTS]);
  assert.equal(unit.code, 0, unit.stderr + unit.stdout);
  assert.match(unit.stdout, /SUCCESS/);

  const config = await run('promtool', ['check', 'config', join(PROM, 'prometheus.yml')]);
  assert.equal(config.code, 0, config.stderr + config.stdout);
  assert.match(config.stdout, /SUCCESS: 1 rule files found/);
});

test('a broken rule file is rejected, and the unit tests catch a changed rule', async (t) => {
  requireTool('promtool');
  const broken = mutated(
    t,
    'group_left (event) aemon_anomaly_event_info',
    'group_left (event) aemon_anomaly_event_info ==',
    'AemonAnomaly',
  );
  const check = await run('promtool', ['check', 'rules', broken.rules]);
  assert.notEqual(check.code, 0, 'promtool accepted an unparsable expression');
  assert.match(check.stderr + check.stdout, /parse error|unexpected/);

  // A rule that fires later, or at another threshold, fails its unit test, by name.
  for (const [from, to, alert] of [
    [
      '(aemon_anomaly_severity > 0 and aemon_anomaly == 1)\n        for: 1m',
      '(aemon_anomaly_severity > 0 and aemon_anomaly == 1)\n        for: 5m',
      'AemonAnomaly',
    ],
    // Without the join, the alert loses the open event's id (its label and its link).
    ['group_left (event) aemon_anomaly_event_info', 'group_left () aemon_anomaly_event_info', 'AemonAnomaly'],
    // The severity label follows the bands: a shifted band fails the tests.
    ['else if ge $value 2.0 }}major', 'else if ge $value 3.0 }}major', 'AemonAnomaly'],
    ['> 0.05', '> 0.5', 'AemonDlqRateHigh'],
    [
      'sum without (partition) (aemon_kafka_lag) > 1000',
      'sum without (partition) (aemon_kafka_lag) > 100000',
      'AemonKafkaLagGrowing',
    ],
  ] as const) {
    const changed = mutated(t, from, to, alert);
    const unit = await run('promtool', ['test', 'rules', changed.tests]);
    assert.notEqual(unit.code, 0, `the unit tests passed with ${alert} changed (${to.trim()})`);
    assert.match(unit.stdout + unit.stderr, new RegExp(`alertname: ${alert}`));
  }
});

test('every alert has a unit test that sees it firing and one that sees it quiet (the watchdog only fires)', () => {
  const tests = (
    parse(readFileSync(RULE_TESTS, 'utf8')) as {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    }
  ).tests;
  const cases = tests.flatMap((x) => x.alert_rule_test ?? []);
  for (const rule of alertRules()) {
    const mine = cases.filter((c) => c.alertname === rule.alert);
    assert.ok(
      mine.some((c) => c.exp_alerts.length > 0),
      `${rule.alert}: no test sees it firing`,
    );
    if (rule.alert !== 'AemonWatchdog')
      assert.ok(
        mine.some((c) => c.exp_alerts.length === 0),
        `${rule.alert}: no test sees it quiet`,
      );
  }
});

test('the alerts carry a severity and a summary/description, and AemonDown waits at least two scrape intervals', () => {
  const rules = alertRules();
  assert.deepEqual(rules.map((r) => r.alert).sort(), [
    'AemonAnomaly',
    'AemonDlqRateHigh',
    'AemonDown',
    'AemonKafkaLagGrowing',
    'AemonModelStale',
    'AemonPartitionStopped',
    'AemonScoringStopped',
    'AemonSinkFailing',
    'AemonWatchdog',
  ]);
  for (const r of rules) {
    // AemonAnomaly's severity is its anomaly's (minor, major, critical), templated from its value.
    if (r.alert === 'AemonAnomaly') assert.match(r.labels?.severity ?? '', /critical.*major.*minor/, r.alert);
    else assert.match(r.labels?.severity ?? '', /^(critical|warning|info|none)$/, r.alert);
    assert.ok(r.annotations?.summary && r.annotations.description, `${r.alert} lacks summary or description`);
  }
  const seconds = (d: string): number => {
    const m = /^(\d+)(s|m|h)$/.exec(d);
    assert.ok(m, `unexpected duration ${d}`);
    return Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2] as 's' | 'm' | 'h'];
  };
  const config = parse(readFileSync(join(PROM, 'prometheus.yml'), 'utf8')) as { global: { scrape_interval: string } };
  const down = rules.find((r) => r.alert === 'AemonDown')!;
  assert.match(down.expr, /absent\(up\{job="aemon"\}/);
  assert.ok(seconds(down.for ?? '0s') >= 2 * seconds(config.global.scrape_interval), `AemonDown for: ${down.for}`);
});
