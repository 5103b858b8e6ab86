import { AemonError } from '../errors.js';
import type { ModelBundle, ModelMetadata } from '../pipeline/model.js';
import type { Tf } from './backend.js';
import type { KernelSetting } from './kernels/kernel.js';
import { loadModelFiles, modelFiles, verifyModelFiles } from './io.js';

/**
 * A promoted model as one record of the compacted models topic (docs/kafka.md#sharing-models-between-instances): key = model group,
 * value = JSON holding the model folder's four files (base64) with `checksums.json` among them,
 * so a follower verifies the bytes exactly as a model folder on disk is verified.
 * ```json
 * {"format":"aemon.model/1","group":"…","version":"m-…","publishedAt":"ISO-8601","origin":"host/pid",
 *  "files":{"model.json":"…","weights.bin":"…","metadata.json":"…","checksums.json":"…"}}
 * ```
 */
export const MODEL_RECORD_FORMAT = 'aemon.model/1';

/** A Kafka message of the models topic (kafkajs' Message shape). */
export interface ModelMessage {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

/** A record read back, its checksums verified (the model itself not loaded yet). */
export interface ModelRecord {
  group: string;
  version: string;
  /** When the publisher promoted it (epoch ms). */
  publishedAt: number;
  /** Which instance published it. */
  origin: string;
  metadata: ModelMetadata;
  files: ReadonlyMap<string, Uint8Array>;
}

function invalidRecord(message: string): AemonError {
  return new AemonError('AEMON_MODEL_INVALID', `models topic record: ${message}`, { stage: 'model' });
}

export async function encodeModelRecord(
  bundle: ModelBundle,
  publishedAt: number,
  origin: string,
): Promise<ModelMessage> {
  const { group, version } = bundle.metadata;
  const files: Record<string, string> = {};
  for (const [name, bytes] of await modelFiles(bundle)) files[name] = Buffer.from(bytes).toString('base64');
  const at = new Date(publishedAt).toISOString();
  return {
    key: group,
    value: Buffer.from(JSON.stringify({ format: MODEL_RECORD_FORMAT, group, version, publishedAt: at, origin, files })),
    headers: { 'aemon.model.version': version, 'aemon.model.published': at, 'aemon.model.origin': origin },
  };
}

/**
 * Reads a models-topic record: its shape (`AEMON_MODEL_INVALID`), every checksum
 * (`AEMON_MODEL_CHECKSUM`: altered or truncated), and that key, record and metadata name the
 * same group and version.
 */
export function decodeModelRecord(value: Uint8Array, key: string | undefined): ModelRecord {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(Buffer.from(value).toString('utf8')) as Record<string, unknown>;
  } catch {
    throw invalidRecord(`not JSON (${value.byteLength} bytes)`);
  }
  if (typeof doc !== 'object' || doc === null || doc.format !== MODEL_RECORD_FORMAT)
    throw invalidRecord(`not an ${MODEL_RECORD_FORMAT} record`);
  const { group, version, publishedAt, origin, files } = doc;
  const at = typeof publishedAt === 'string' ? Date.parse(publishedAt) : Number.NaN;
  if (typeof group !== 'string' || typeof version !== 'string' || typeof origin !== 'string' || !Number.isFinite(at)) {
    throw invalidRecord('group, version, origin and publishedAt (ISO-8601) are required');
  }
  if (typeof files !== 'object' || files === null || !Object.values(files).every((f) => typeof f === 'string')) {
    throw invalidRecord('files must map file names to base64');
  }
  const where = `the models topic record of ${version} [${group}]`;
  const bytes = new Map(
    Object.entries(files as Record<string, string>).map(([name, b64]) => [
      name,
      new Uint8Array(Buffer.from(b64, 'base64')),
    ]),
  );
  const metadata = verifyModelFiles(bytes, where);
  if (key !== group) throw invalidRecord(`its key "${key ?? ''}" is not its group [${group}]`);
  if (metadata.group !== group || metadata.version !== version) {
    throw invalidRecord(`it names ${version} [${group}] but its metadata ${metadata.version} [${metadata.group}]`);
  }
  return { group, version, publishedAt: at, origin, metadata, files: bytes };
}

/** The record's model on this process's backend (checksums verified again on the way). */
export function loadModelRecord(
  record: ModelRecord,
  tf: Tf,
  backend: string,
  kernel: KernelSetting,
): Promise<ModelBundle> {
  return loadModelFiles(
    record.files,
    `the models topic record of ${record.version} [${record.group}]`,
    tf,
    backend,
    kernel,
  );
}
