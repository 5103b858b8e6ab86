import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { io } from '@tensorflow/tfjs';
import { AemonError } from '../errors.js';
import type { Autoencoder, ModelBundle, ModelMetadata } from '../pipeline/model.js';
import { LstmAutoencoder } from './autoencoder.js';
import type { Tf } from './backend.js';
import type { KernelSetting } from './kernels/kernel.js';
import { invalid } from './layers.js';
import { checkMetadataMatches, parseMetadata } from './metadata.js';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';
const METADATA_JSON = 'metadata.json';
const CHECKSUMS_JSON = 'checksums.json';
const CHECKED_FILES = [MODEL_JSON, WEIGHTS_BIN, METADATA_JSON] as const;

/** A model's topology and weights as tfjs serialises them. */
export interface ModelArtifactsData {
  topology: object;
  weightSpecs: io.WeightsManifestEntry[];
  weights: ArrayBuffer;
  generatedBy: string;
}

function ioError(message: string, cause?: unknown): AemonError {
  return new AemonError('AEMON_MODEL_IO', message, { stage: 'model', cause, retryable: true });
}

function checksumError(message: string): AemonError {
  return new AemonError('AEMON_MODEL_CHECKSUM', message, { stage: 'model' });
}

function sha256(...parts: (string | Uint8Array)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

/** Content-derived: the same topology and weights give the same version, in any process. */
export function modelVersion(weights: ArrayBuffer, topology: unknown): string {
  return `m-${sha256(JSON.stringify(topology), new Uint8Array(weights)).slice(0, 10)}`;
}

/** Serialises a model created by this module (topology, weight specs and one weights buffer). */
export async function exportArtifacts(model: Autoencoder): Promise<ModelArtifactsData> {
  if (!(model instanceof LstmAutoencoder)) throw invalid('only models created by src/model can be exported');
  let captured: io.ModelArtifacts | undefined;
  await model.layersModel.save({
    save: async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    },
  });
  if (
    captured?.modelTopology === undefined ||
    captured.weightSpecs === undefined ||
    captured.weightData === undefined
  ) {
    throw invalid('tfjs returned incomplete model artifacts');
  }
  return {
    topology: captured.modelTopology,
    weightSpecs: captured.weightSpecs,
    weights: joinBuffers(captured.weightData),
    generatedBy: captured.generatedBy ?? 'TensorFlow.js',
  };
}

function joinBuffers(data: io.WeightData): ArrayBuffer {
  const parts = Array.isArray(data) ? data : [data];
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(new Uint8Array(part), offset);
    offset += part.byteLength;
  }
  return out.buffer;
}

/** A suffix for temporary names that two processes (or two writes) never share. */
export const tmpSuffix = (): string => `${process.pid}-${randomBytes(4).toString('hex')}`;

/**
 * A model's folder as bytes: `model.json`, `weights.bin`, `metadata.json` and `checksums.json`
 * (sha256 of the other three). A folder on disk and a record on the models topic hold the same.
 */
export async function modelFiles(bundle: ModelBundle): Promise<Map<string, Uint8Array>> {
  checkMetadataMatches(bundle.metadata, bundle.model.params);
  const artifacts = await exportArtifacts(bundle.model);
  const modelJson = JSON.stringify({
    format: 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: null,
    modelTopology: artifacts.topology,
    weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs }],
  });
  const files = new Map<string, Uint8Array>([
    [MODEL_JSON, Buffer.from(modelJson)],
    [WEIGHTS_BIN, new Uint8Array(artifacts.weights)],
    [METADATA_JSON, Buffer.from(`${JSON.stringify(bundle.metadata, null, 2)}\n`)],
  ]);
  const sums = Object.fromEntries([...files].map(([name, bytes]) => [name, sha256(bytes)]));
  files.set(CHECKSUMS_JSON, Buffer.from(`${JSON.stringify({ algorithm: 'sha256', files: sums }, null, 2)}\n`));
  return files;
}

/**
 * Writes {@link modelFiles} into a temporary folder beside `dir`, then swaps it in, so a reader
 * sees the old folder or the new one whole.
 */
export async function saveModelFolder(dir: string, bundle: ModelBundle): Promise<void> {
  const files = await modelFiles(bundle);
  const target = resolve(dir);
  const suffix = tmpSuffix();
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${suffix}`);
  try {
    await mkdir(tmp, { recursive: true });
    for (const [name, bytes] of files) await writeDurably(join(tmp, name), bytes);
    await swapIn(tmp, target, join(dirname(target), `.${basename(target)}.old-${suffix}`));
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw ioError(`cannot save the model to ${dir}: ${(err as Error).message}`, err);
  }
}

/** Writes a file and fsyncs it before closing (a rename after it then publishes whole bytes). */
export async function writeDurably(path: string, bytes: Uint8Array | string): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** rename() cannot replace a non-empty folder, so an existing one is moved aside first. */
async function swapIn(tmp: string, target: string, aside: string): Promise<void> {
  try {
    await rename(tmp, target);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  }
  await rename(target, aside);
  try {
    await rename(tmp, target);
  } catch (err) {
    await rename(aside, target);
    throw err;
  }
  await rm(aside, { recursive: true, force: true });
}

/**
 * Loads a model folder written by {@link saveModelFolder}. Every checksum is verified before
 * anything is parsed: a missing, truncated or altered file is `AEMON_MODEL_CHECKSUM`; a folder
 * that cannot be read is `AEMON_MODEL_IO`; metadata that does not fit the topology is
 * `AEMON_MODEL_INVALID`. The weights layout is tfjs-layers' whichever `kernel` scores them.
 */
export async function loadModelFolder(
  dir: string,
  tf: Tf,
  backend: string,
  kernel: KernelSetting = 'auto',
): Promise<ModelBundle> {
  return loadModelFiles(await readFolder(dir), dir, tf, backend, kernel);
}

/** {@link loadModelFolder} of a folder's {@link modelFiles} held in memory; `where` names them in errors. */
export async function loadModelFiles(
  files: ReadonlyMap<string, Uint8Array>,
  where: string,
  tf: Tf,
  backend: string,
  kernel: KernelSetting = 'auto',
): Promise<ModelBundle> {
  const contents = verifiedFiles(files, where);
  const metadata = parseMetadata(text(contents, METADATA_JSON));
  const { topology, weightSpecs, generatedBy } = parseModelJson(text(contents, MODEL_JSON));
  const weights = contents.get(WEIGHTS_BIN)!;
  const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  let layersModel;
  try {
    layersModel = await tf.loadLayersModel({
      load: async () => ({
        modelTopology: topology,
        weightSpecs,
        weightData,
        format: 'layers-model',
        generatedBy,
        convertedBy: null,
      }),
    });
  } catch (err) {
    throw invalid(`${MODEL_JSON} and ${WEIGHTS_BIN} in ${where} do not make a model: ${(err as Error).message}`, err);
  }
  try {
    return { model: LstmAutoencoder.fromLayersModel(tf, backend, metadata.params, layersModel, kernel), metadata };
  } catch (err) {
    layersModel.dispose();
    throw err;
  }
}

/**
 * Checks a model folder without TensorFlow.js: every checksum, and that metadata.json parses.
 * The same errors as {@link loadModelFolder}; the registry runs it before moving `CURRENT`.
 */
export async function verifyModelFolder(dir: string): Promise<ModelMetadata> {
  return verifyModelFiles(await readFolder(dir), dir);
}

/** {@link verifyModelFolder} of files held in memory (a models-topic record); `where` names them in errors. */
export function verifyModelFiles(files: ReadonlyMap<string, Uint8Array>, where: string): ModelMetadata {
  const contents = verifiedFiles(files, where);
  const metadata = parseMetadata(text(contents, METADATA_JSON));
  parseModelJson(text(contents, MODEL_JSON));
  return metadata;
}

const text = (contents: ReadonlyMap<string, Uint8Array>, name: string): string =>
  Buffer.from(contents.get(name)!).toString('utf8');

/** The model files of a folder (those missing are left out; verifying names them). */
async function readFolder(dir: string): Promise<Map<string, Uint8Array>> {
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    throw ioError(`cannot read the model folder ${dir}: ${(err as Error).message}`, err);
  }
  if (!isDir) throw ioError(`${dir} is not a folder`);
  const files = new Map<string, Uint8Array>();
  for (const name of [CHECKSUMS_JSON, ...CHECKED_FILES]) {
    const bytes = await readChecked(dir, name);
    if (bytes) files.set(name, bytes);
  }
  return files;
}

/** Every file present and matching checksums.json, or `AEMON_MODEL_CHECKSUM` naming the first that is not. */
function verifiedFiles(files: ReadonlyMap<string, Uint8Array>, where: string): ReadonlyMap<string, Uint8Array> {
  const missing = (name: string): AemonError => checksumError(`${name} is missing from ${where}`);
  const sums = files.get(CHECKSUMS_JSON);
  if (!sums) throw missing(CHECKSUMS_JSON);
  const expected = parseChecksums(sums);
  for (const name of CHECKED_FILES) {
    const bytes = files.get(name);
    if (!bytes) throw missing(name);
    if (sha256(bytes) !== expected[name]) {
      throw checksumError(`${name} in ${where} does not match its checksum (altered or truncated)`);
    }
  }
  return files;
}

/** A file's bytes, or undefined when it is not there. */
async function readChecked(dir: string, name: string): Promise<Buffer | undefined> {
  try {
    return await readFile(join(dir, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ioError(`cannot read ${name} in ${dir}: ${(err as Error).message}`, err);
  }
}

function parseChecksums(bytes: Uint8Array): Record<(typeof CHECKED_FILES)[number], string> {
  let value: { algorithm?: unknown; files?: Record<string, unknown> };
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof value;
  } catch {
    throw checksumError(`${CHECKSUMS_JSON} is not valid JSON`);
  }
  const files = value?.files;
  const wellFormed =
    value?.algorithm === 'sha256' &&
    typeof files === 'object' &&
    files !== null &&
    CHECKED_FILES.every((name) => typeof files[name] === 'string' && /^[0-9a-f]{64}$/.test(files[name] as string));
  if (!wellFormed) throw checksumError(`${CHECKSUMS_JSON} must give a sha256 for each of ${CHECKED_FILES.join(', ')}`);
  return files as Record<(typeof CHECKED_FILES)[number], string>;
}

function parseModelJson(text: string): {
  topology: object;
  weightSpecs: io.WeightsManifestEntry[];
  generatedBy: string;
} {
  let value: {
    modelTopology?: unknown;
    weightsManifest?: { paths?: unknown; weights?: unknown }[];
    generatedBy?: unknown;
  };
  try {
    value = JSON.parse(text) as typeof value;
  } catch (err) {
    throw invalid(`${MODEL_JSON} is not valid JSON`, err);
  }
  const manifest = value?.weightsManifest;
  if (
    typeof value?.modelTopology !== 'object' ||
    value.modelTopology === null ||
    !Array.isArray(manifest) ||
    manifest.length !== 1
  ) {
    throw invalid(`${MODEL_JSON} must hold modelTopology and one weightsManifest group`);
  }
  const group = manifest[0]!;
  if (JSON.stringify(group.paths) !== JSON.stringify([WEIGHTS_BIN]) || !Array.isArray(group.weights)) {
    throw invalid(`${MODEL_JSON}: the weights manifest must point to ${WEIGHTS_BIN} and list its weights`);
  }
  return {
    topology: value.modelTopology,
    weightSpecs: group.weights as io.WeightsManifestEntry[],
    generatedBy: typeof value.generatedBy === 'string' ? value.generatedBy : 'TensorFlow.js',
  };
}
