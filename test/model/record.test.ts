import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { AemonError } from '../../src/errors.js';
import { createAutoencoder } from '../../src/model/autoencoder.js';
import type { BackendSelection } from '../../src/model/backend.js';
import { decodeModelRecord, encodeModelRecord, loadModelRecord } from '../../src/model/record.js';
import type { ModelBundle } from '../../src/pipeline/model.js';
import { bundleFor, selectTestBackend, sineWindows, SMALL, TEST_KERNEL } from './fixtures.js';

let sel: BackendSelection;
let bundle: ModelBundle;
before(async () => {
  sel = await selectTestBackend();
  const calibration = { mean: [0.5, 1, 2], std: [1, 2, 3], threshold: 0.25 };
  bundle = await bundleFor(createAutoencoder(sel.tf, sel.backend, SMALL, TEST_KERNEL), {
    sensors: { 'pump-1': calibration },
    fallback: calibration,
  });
});
after(() => bundle.model.dispose());

const isError = (code: string, pattern: RegExp) => (err: unknown) =>
  err instanceof AemonError && err.code === code && pattern.test(err.message);

/** The record with one byte of one of its files changed (the base64 re-encoded, so only the checksum can tell). */
function tampered(value: Buffer, file: string): Buffer {
  const doc = JSON.parse(value.toString('utf8')) as { files: Record<string, string> };
  const bytes = Buffer.from(doc.files[file]!, 'base64');
  bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
  doc.files[file] = bytes.toString('base64');
  return Buffer.from(JSON.stringify(doc));
}

test('a models-topic record round-trips: key is the group, the metadata and weights come back, and the loaded model scores as the original', async () => {
  const at = Date.UTC(2026, 4, 1, 12);
  const msg = await encodeModelRecord(bundle, at, 'host-a/123');
  assert.equal(msg.key, 'a,b,c');
  assert.equal(msg.headers['aemon.model.version'], bundle.metadata.version);
  const record = decodeModelRecord(msg.value, msg.key);
  assert.deepEqual(
    [record.group, record.version, record.publishedAt, record.origin],
    ['a,b,c', bundle.metadata.version, at, 'host-a/123'],
  );
  assert.deepEqual(record.metadata.sensors, bundle.metadata.sensors);
  const loaded = await loadModelRecord(record, sel.tf, sel.backend, TEST_KERNEL);
  try {
    const x = sineWindows(4, SMALL.windowSize, SMALL.channels, 3);
    assert.deepEqual((await loaded.model.score(x, 4)).errors, (await bundle.model.score(x, 4)).errors);
  } finally {
    loaded.model.dispose();
  }
});

test('a tampered, truncated or mislabelled record is refused with the reason', async () => {
  const msg = await encodeModelRecord(bundle, Date.now(), 'host-a/123');
  for (const file of ['weights.bin', 'metadata.json', 'model.json']) {
    assert.throws(
      () => decodeModelRecord(tampered(msg.value, file), msg.key),
      isError(
        'AEMON_MODEL_CHECKSUM',
        new RegExp(
          `${file.replace('.', '\\.')} in the models topic record of m-[0-9a-f]+ \\[a,b,c\\] does not match its checksum`,
        ),
      ),
    );
  }
  assert.throws(
    () => decodeModelRecord(msg.value.subarray(0, msg.value.length - 100), msg.key),
    isError('AEMON_MODEL_INVALID', /not JSON/),
  );
  const doc = JSON.parse(msg.value.toString()) as { files: Record<string, string> };
  delete doc.files['checksums.json'];
  assert.throws(
    () => decodeModelRecord(Buffer.from(JSON.stringify(doc)), msg.key),
    isError('AEMON_MODEL_CHECKSUM', /checksums\.json is missing/),
  );
  assert.throws(
    () => decodeModelRecord(msg.value, 'x,y'),
    isError('AEMON_MODEL_INVALID', /key "x,y" is not its group \[a,b,c\]/),
  );
  assert.throws(
    () => decodeModelRecord(Buffer.from('{"format":"other"}'), msg.key),
    isError('AEMON_MODEL_INVALID', /not an aemon\.model\/1 record/),
  );
});
