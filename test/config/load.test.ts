import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configWarnings, envName, envOverrides, loadConfig, parseConfig } from '../../src/config/load.js';
import { AemonError } from '../../src/errors.js';
import { tempDir } from '../tempdir.js';

test('an empty config is valid and filled with defaults that work for the demo', () => {
  const cfg = parseConfig({});
  assert.equal(cfg.metrics.port, 9464);
  assert.equal(cfg.windowing.size, 32);
  assert.equal(cfg.windowing.reorder.capacity, 256);
  assert.ok(Object.isFrozen(cfg.windowing.reorder));
});

test('an unknown key is rejected with a message naming it', () => {
  assert.throws(
    () => parseConfig({ windowing: { size: 8, sise: 9 } }, 'aemon.yaml'),
    (err: unknown) =>
      err instanceof AemonError &&
      err.code === 'AEMON_CONFIG_INVALID' &&
      /unknown key "windowing\.sise"/.test(err.message),
  );
  assert.throws(() => parseConfig({ windowin: {} }), /unknown key "windowin"/);
});

test('a wrong type names the path', () => {
  assert.throws(() => parseConfig({ metrics: { port: 'x' } }), /metrics\.port: Expected number/);
});

test('env names are derived from the config path', () => {
  assert.equal(envName(['windowing', 'reorder', 'maxDelayMs']), 'AEMON_WINDOWING_REORDER_MAX_DELAY_MS');
  assert.equal(envName(['metrics', 'port']), 'AEMON_METRICS_PORT');
});

test('env overrides are coerced by the schema type and win over the file', () => {
  const dir = tempDir('aemon-cfg-');
  const file = join(dir, 'aemon.yaml');
  writeFileSync(file, 'metrics:\n  port: 9000\n  enabled: true\nwindowing:\n  size: 16\n');
  const cfg = loadConfig({
    file,
    env: { AEMON_METRICS_PORT: '9100', AEMON_METRICS_ENABLED: 'false', AEMON_SIMULATOR_CHANNELS: 'a, b', PATH: '/bin' },
  });
  assert.equal(cfg.metrics.port, 9100);
  assert.equal(cfg.metrics.enabled, false);
  assert.equal(cfg.windowing.size, 16);
  assert.deepEqual(cfg.simulator.channels, ['a', 'b']);
});

test('command-line overrides win over env', () => {
  const cfg = loadConfig({ env: { AEMON_WINDOWING_SIZE: '20' }, overrides: { windowing: { size: 24 } } });
  assert.equal(cfg.windowing.size, 24);
});

test('an AEMON_ variable that names no setting is an error, and so is a non-number', () => {
  assert.throws(() => envOverrides({ AEMON_METRICS_PROT: '1' }), /unknown environment variable AEMON_METRICS_PROT/);
  assert.throws(() => envOverrides({ AEMON_METRICS_PORT: 'abc' }), /AEMON_METRICS_PORT="abc" is not a number/);
});

test('a config file that cannot be read or parsed gives a clear error', () => {
  assert.throws(
    () => loadConfig({ file: '/nonexistent/aemon.yaml', env: {} }),
    (e: unknown) => e instanceof AemonError && e.code === 'AEMON_CONFIG_READ',
  );
  const dir = tempDir('aemon-cfg-');
  const file = join(dir, 'bad.json');
  writeFileSync(file, '{"metrics": ');
  assert.throws(() => loadConfig({ file, env: {} }), /bad\.json: not valid JSON/);
});

test('simulator timing defaults follow its rate and keep the bootstrap period free of anomalies', async () => {
  const { simulatorSettings } = await import('../../src/config/schema.js');
  const at20 = simulatorSettings(parseConfig({ simulator: { rateHz: 20 }, training: { bootstrapReadings: 240 } }));
  assert.equal(at20.quietSeconds, 24);
  assert.equal(at20.anomalyEverySeconds, 45);
  assert.equal(at20.anomalySeconds, 4.5);
  const set = simulatorSettings(parseConfig({ simulator: { quietSeconds: 5, anomalySeconds: 7 } }));
  assert.equal(set.quietSeconds, 5);
  assert.equal(set.anomalySeconds, 7);
});

test('detection.decision chooses one decision layer: dynamic by default, any of four by key or AEMON_DETECTION_DECISION', () => {
  assert.equal(parseConfig({}).detection.decision, 'dynamic');
  for (const decision of ['threshold', 'dynamic', 'pot', 'likelihood'] as const) {
    assert.equal(parseConfig({ detection: { decision } }).detection.decision, decision);
    assert.equal(loadConfig({ env: { AEMON_DETECTION_DECISION: decision } }).detection.decision, decision);
  }
  assert.deepEqual(envOverrides({ AEMON_DETECTION_DECISION: 'pot' }), { detection: { decision: 'pot' } });
  assert.throws(
    () => parseConfig({ detection: { decision: 'spot' } }),
    (e: unknown) => e instanceof AemonError && /detection\.decision: Invalid enum value/.test(e.message),
  );
  // A config that uses the key alone warns about nothing, and the loaded config has no flags left.
  const cfg = parseConfig({ detection: { decision: 'pot', pot: { initial: 50 } } });
  assert.deepEqual(configWarnings(cfg), []);
  for (const layer of ['dynamic', 'pot', 'likelihood'] as const)
    assert.equal('enabled' in cfg.detection[layer], false, layer);
  assert.equal(cfg.detection.pot.initial, 50);
});

test('the older <layer>.enabled flags still load, with their old precedence and a warning naming detection.decision', () => {
  const cases: Array<[object, string, number]> = [
    [{ dynamic: { enabled: false } }, 'threshold', 1],
    [{ dynamic: { enabled: true } }, 'dynamic', 1],
    [{ pot: { enabled: true } }, 'pot', 1],
    [{ pot: { enabled: true }, dynamic: { enabled: false } }, 'pot', 2],
    [{ pot: { enabled: false } }, 'dynamic', 1],
    [{ likelihood: { enabled: true } }, 'likelihood', 1],
    [{ likelihood: { enabled: true }, dynamic: { enabled: true } }, 'likelihood', 2],
    [{ likelihood: { enabled: false }, dynamic: { enabled: false } }, 'threshold', 2],
  ];
  for (const [detection, decision, warnings] of cases) {
    const cfg = parseConfig({ detection }, 'aemon.yaml');
    assert.equal(cfg.detection.decision, decision, JSON.stringify(detection));
    const lines = configWarnings(cfg);
    assert.equal(lines.length, warnings, JSON.stringify(lines));
    for (const line of lines)
      assert.match(
        line,
        /^aemon\.yaml: detection\.(dynamic|pot|likelihood)\.enabled \(AEMON_DETECTION_\w+_ENABLED\) is deprecated: .*detection\.decision/,
      );
  }
  assert.match(
    configWarnings(parseConfig({ detection: { pot: { enabled: true } } }))[0]!,
    /use detection\.decision: pot \(AEMON_DETECTION_DECISION=pot\)/,
  );
  assert.match(
    configWarnings(parseConfig({ detection: { dynamic: { enabled: false } } }))[0]!,
    /use detection\.decision: threshold/,
  );
  // From the environment too.
  const fromEnv = loadConfig({ env: { AEMON_DETECTION_LIKELIHOOD_ENABLED: 'true' } });
  assert.equal(fromEnv.detection.decision, 'likelihood');
  assert.match(
    configWarnings(fromEnv)[0]!,
    /detection\.likelihood\.enabled \(AEMON_DETECTION_LIKELIHOOD_ENABLED\) is deprecated/,
  );
  // Both replacing layers at once was an error and stays one, pointing at the new key.
  assert.throws(
    () => parseConfig({ detection: { pot: { enabled: true }, likelihood: { enabled: true } } }),
    /detection\.likelihood and detection\.pot each replace score > 1 as the decision; choose one with detection\.decision/,
  );
  // With the key set, the key decides and the flags are said to be ignored.
  const both = parseConfig({
    detection: { decision: 'threshold', pot: { enabled: true }, likelihood: { enabled: true } },
  });
  assert.equal(both.detection.decision, 'threshold');
  assert.equal(configWarnings(both).length, 2);
  for (const line of configWarnings(both))
    assert.match(line, /is deprecated: it is ignored, detection\.decision \(AEMON_DETECTION_DECISION\) is set/);
});
