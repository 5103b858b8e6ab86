import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envName, envOverrides, loadConfig, parseConfig } from '../../src/config/load.js';
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
    (err: unknown) => err instanceof AemonError && err.code === 'AEMON_CONFIG_INVALID' && /unknown key "windowing\.sise"/.test(err.message),
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
  assert.throws(() => loadConfig({ file: '/nonexistent/aemon.yaml', env: {} }), (e: unknown) => e instanceof AemonError && e.code === 'AEMON_CONFIG_READ');
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
