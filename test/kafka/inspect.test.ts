import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { aemon } from '../cli/run.js';
import { freshTopic, sharedBroker } from './broker.js';
import { tempDir } from '../tempdir.js';
import type { InspectReport } from '../../src/cli/inspect.js';

// kcat (librdkafka, an independent producer) writes InfluxDB line protocol, as Telegraf's Kafka
// output does; `aemon inspect` under the default json format shows every record rejected and
// suggests influx, and neither aemon's configured group nor any other group gets an offset.

let admin: Admin;
let brokers: string;

async function setup(): Promise<void> {
  if (admin) return;
  const broker = await sharedBroker();
  brokers = broker.brokers.join(',');
  admin = new Kafka({ clientId: 'aemon-test', brokers: broker.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
}
after(async () => {
  await admin?.disconnect();
});

const T0 = Date.UTC(2026, 0, 1);
const LINES = Array.from(
  { length: 30 },
  (_, i) => `pump,site=a,device=p${i % 3} temp=${70 + i / 10},rpm=${1400 + i}i ${(T0 + i * 1000) * 1e6}`,
);

function kcatProduce(topic: string, lines: string[]): void {
  const file = join(tempDir('aemon-inspect-'), 'records.txt');
  writeFileSync(file, lines.map((l, i) => `p${i % 3}|${l}`).join('\n') + '\n');
  const r = spawnSync('kcat', ['-b', brokers, '-P', '-t', topic, '-K', '|', '-l', file], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.error) assert.fail(`kcat could not run (${r.error.message}): run npm run test:setup`);
  assert.equal(r.status, 0, r.stderr);
}

/** Offsets every consumer group on the broker has committed for `topic` (none = -1 everywhere). */
async function committed(topic: string): Promise<Array<{ group: string; partition: number; offset: string }>> {
  const out: Array<{ group: string; partition: number; offset: string }> = [];
  for (const g of (await admin.listGroups()).groups) {
    for (const t of await admin.fetchOffsets({ groupId: g.groupId, topics: [topic] })) {
      for (const p of t.partitions) out.push({ group: g.groupId, partition: p.partition, offset: p.offset });
    }
  }
  return out;
}

test(
  'inspect reads line protocol from a topic, shows it rejected under json, suggests influx and commits nothing',
  { timeout: 180_000 },
  async () => {
    await setup();
    const topic = await freshTopic(admin, 3);
    kcatProduce(topic, LINES);
    const group = `aemon.inspect.${topic}`;
    const env = { AEMON_KAFKA_BROKERS: brokers, AEMON_KAFKA_GROUP_ID: group };

    const json = await aemon(['inspect', '--kafka-topic', topic, '-n', '12', '--json'], { env });
    assert.equal(json.code, 0, json.stderr);
    const rep = JSON.parse(json.stdout) as InspectReport;
    assert.equal(rep.total, 12);
    assert.equal(rep.read, 0);
    for (const r of rep.records) {
      assert.ok(LINES.includes(r.raw), `${r.raw} is one of the produced lines`);
      assert.equal(r.rejections[0]?.reason, 'not_json');
      assert.equal(typeof r.partition, 'number');
    }
    // Every partition is read from its beginning: within a partition the offsets are 0, 1, 2, …
    const byPartition = new Map<number, number[]>();
    for (const r of rep.records)
      byPartition.set(r.partition!, [...(byPartition.get(r.partition!) ?? []), Number(r.offset)]);
    for (const offsets of byPartition.values())
      assert.deepEqual(
        offsets,
        offsets.map((_, i) => i),
      );
    assert.equal(rep.suggestion?.overrides.format, 'influx');
    assert.equal(rep.suggestion.reads, 12);
    assert.deepEqual(rep.suggestion.env, ['AEMON_READING_FORMAT=influx']);
    // The example is a produced line as the influx decoder reads it.
    const ex = rep.suggestion.example!;
    const i = (Date.parse(ex.time) - T0) / 1000;
    assert.deepEqual(ex, {
      sensor: `pump,device=p${i % 3},site=a`,
      time: new Date(T0 + i * 1000).toISOString(),
      channels: { rpm: 1400 + i, temp: 70 + i / 10 },
    });

    const text = await aemon(['inspect', '--kafka-topic', topic, '-n', '3'], { env });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /p\d@\d+ {2}pump,site=a/);
    assert.match(text.stdout, /→ rejected: not_json/);
    assert.match(text.stdout, /Suggestion: reading.format influx would read 3 of 3/);
    assert.match(text.stdout, /AEMON_READING_FORMAT=influx/);

    // Under influx the same command reads them, and `run --dry-run` (the first of kafka.topics) is the same look.
    const dry = await aemon(['run', '--dry-run', '-n', '5'], {
      env: { ...env, AEMON_KAFKA_TOPICS: topic, AEMON_READING_FORMAT: 'influx' },
    });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /reading.format influx reads 5 of 5 records/);
    assert.match(
      dry.stdout,
      /→ sensor pump,device=p\d,site=a, time 2026-01-01T00:00:\d\d.000Z, channels \{rpm: \d+, temp: [\d.]+\}/,
    );

    const offsets = await committed(topic);
    assert.ok(
      offsets.every((o) => o.offset === '-1'),
      `no group committed an offset: ${JSON.stringify(offsets.filter((o) => o.offset !== '-1'))}`,
    );
    const own = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    assert.deepEqual(
      own[0]!.partitions.map((p) => p.offset),
      ['-1', '-1', '-1'],
    );
  },
);

test(
  'inspect of a topic that does not exist, or of an unreachable broker, is one error line',
  { timeout: 120_000 },
  async () => {
    await setup();
    const missing = await aemon(['inspect', '--kafka-topic', 'no.such.topic.here'], {
      env: { AEMON_KAFKA_BROKERS: brokers },
    });
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim(), `aemon: AEMON_KAFKA: topic no.such.topic.here does not exist at ${brokers}`);
    assert.equal((await admin.listTopics()).includes('no.such.topic.here'), false);

    const down = await aemon(['inspect', '--kafka-topic', 'x'], { env: { AEMON_KAFKA_BROKERS: '127.0.0.1:1' } });
    assert.equal(down.code, 1);
    assert.match(down.stderr.trim(), /^aemon: AEMON_KAFKA: cannot reach Kafka at 127\.0\.0\.1:1: [^\n]+$/);
  },
);
