import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createLogger, REDACTED } from '../../src/observability/logger.js';
import { AemonError } from '../../src/errors.js';

function capture(level: Parameters<typeof createLogger>[0]) {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger(level, { destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
  return { log, lines };
}

test('logs are JSON lines with level, time, name and message, filtered by level', () => {
  const { log, lines } = capture('info');
  log.debug('hidden');
  log.info({ sensors: 3 }, 'started');
  assert.equal(lines.length, 1);
  const line = lines[0] as Record<string, unknown>;
  assert.equal(line.msg, 'started');
  assert.equal(line.sensors, 3);
  assert.equal(line.level, 30);
  assert.equal(line.name, 'aemon');
  assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test('secret-looking keys are redacted, also nested', () => {
  const { log, lines } = capture('info');
  log.info(
    {
      password: 'p1',
      kafka: { brokers: ['b:9092'], sasl: { mechanism: 'plain', username: 'u', password: 'p2' } },
      auth: { token: 't', nested: { secret: 's' } },
    },
    'config',
  );
  const text = JSON.stringify(lines[0]);
  for (const secret of ['p1', 'p2', '"t"', '"s"', '"u"']) assert.ok(!text.includes(secret), `${secret} is not logged`);
  const line = lines[0] as { password: string; kafka: { brokers: string[]; sasl: string }; auth: { token: string } };
  assert.equal(line.password, REDACTED);
  assert.equal(line.kafka.sasl, REDACTED);
  assert.deepEqual(line.kafka.brokers, ['b:9092'], 'other keys are kept');
  assert.equal(line.auth.token, REDACTED);
});

test('an AemonError is logged with its code and stage', () => {
  const { log, lines } = capture('info');
  log.error({ err: new AemonError('AEMON_SINK_WRITE', 'disk full', { stage: 'sink' }) }, 'sink failed');
  const err = (lines[0] as { err: Record<string, unknown> }).err;
  assert.equal(err.code, 'AEMON_SINK_WRITE');
  assert.equal(err.stage, 'sink');
  assert.equal(err.message, 'disk full');
});

test('by default logs go to stderr, leaving stdout to data', async () => {
  const logger = fileURLToPath(new URL('../../src/observability/logger.ts', import.meta.url));
  const code = `import { createLogger } from ${JSON.stringify(logger)}; createLogger('info').info('to stderr'); console.log('data');`;
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [
    '--import',
    'tsx',
    '--input-type=module',
    '-e',
    code,
  ]);
  assert.equal(stdout, 'data\n');
  assert.equal(JSON.parse(stderr).msg, 'to stderr');
});
