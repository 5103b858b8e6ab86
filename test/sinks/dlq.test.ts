import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dlqFileSink, dlqLogSink } from '../../src/sinks/dlq.js';
import { createLogger } from '../../src/observability/logger.js';
import { reading, rejection, warming } from './fixtures.js';

test('one NDJSON line per rejection, raw text as is and bytes as base64 with a flag', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aemon-dlq-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'dlq.ndjson');
  const bytes = new Uint8Array([0x00, 0xff, 0xfe, 0x7b, 0x0a]);
  const sink = dlqFileSink(path);
  await sink.write([
    rejection('{"sensor": "a", "values": ', 'not_json'),
    { kind: 'scored', window: null, rows: [warming(reading('a', 0, { x: 1 }), ['x'])] },
  ]);
  await sink.write([rejection(bytes.subarray(1, 4), 'non_finite', 'pump-7')]);
  await sink.close();

  const lines = readFileSync(path, 'utf8').split('\n');
  assert.equal(lines.pop(), '', 'the file ends with a newline');
  assert.equal(lines.length, 2, 'only rejections are written');
  const origin = { source: 'kafka', topic: 'sensors', partition: 2, offset: '41' };
  assert.deepEqual(JSON.parse(lines[0] as string), {
    reason: 'not_json',
    detail: 'bad: not_json',
    origin,
    raw: '{"sensor": "a", "values": ',
  });
  const binary = JSON.parse(lines[1] as string);
  assert.deepEqual(
    { ...binary, raw: undefined },
    { reason: 'non_finite', detail: 'bad: non_finite', sensor: 'pump-7', origin, rawBase64: true, raw: undefined },
  );
  assert.deepEqual(
    [...Buffer.from(binary.raw, 'base64')],
    [0xff, 0xfe, 0x7b],
    'exactly the bytes of the view, not its whole buffer',
  );
});

test('the log dead-letter sink warns once per rejection, without the raw bytes', async () => {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger('info', { destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
  const sink = dlqLogSink(log);
  await sink.write([rejection('secret-ish payload', 'bad_record'), rejection('x', 'too_late')]);
  assert.deepEqual(
    lines.map((l) => [l.level, l.reason, l.msg]),
    [
      [40, 'bad_record', 'reading rejected'],
      [40, 'too_late', 'reading rejected'],
    ],
  );
  assert.ok(!JSON.stringify(lines).includes('secret-ish payload'));
});
