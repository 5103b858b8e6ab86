import type { ModelHyperParams, ModelMetadata, SensorCalibration } from '../pipeline/model.js';
import { isLatentSpace } from '../pipeline/latent.js';
import { invalid } from './layers.js';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNumberArray(value: unknown, length: number): boolean {
  return (
    Array.isArray(value) && value.length === length && value.every((v) => typeof v === 'number' && Number.isFinite(v))
  );
}

function checkCalibration(value: unknown, channels: number, where: string): asserts value is SensorCalibration {
  if (
    !isObject(value) ||
    !isNumberArray(value.mean, channels) ||
    !isNumberArray(value.std, channels) ||
    typeof value.threshold !== 'number'
  ) {
    throw invalid(`metadata.json: ${where} must have mean and std of ${channels} numbers and a numeric threshold`);
  }
  const weighting = value.channelErrors;
  if (weighting === undefined) return;
  if (
    !isObject(weighting) ||
    (weighting.combine !== 'normalised' && weighting.combine !== 'max') ||
    !isNumberArray(weighting.levels, channels) ||
    !(weighting.levels as number[]).every((l) => l > 0)
  ) {
    throw invalid(
      `metadata.json: ${where}.channelErrors must have combine "normalised" or "max" and levels of ${channels} positive numbers`,
    );
  }
}

function checkParamsShape(value: unknown): asserts value is ModelHyperParams {
  if (!isObject(value)) throw invalid('metadata.json: params is missing');
  for (const key of ['windowSize', 'channels', 'units', 'depth', 'dropout', 'learningRate', 'seed'] as const) {
    if (typeof value[key] !== 'number') throw invalid(`metadata.json: params.${key} must be a number`);
  }
  if (value.loss !== 'mse' && value.loss !== 'mae') throw invalid('metadata.json: params.loss must be "mse" or "mae"');
  // Absent in models saved before the conv autoencoder: they are LSTM autoencoders.
  if (value.architecture !== undefined && value.architecture !== 'lstm' && value.architecture !== 'conv')
    throw invalid('metadata.json: params.architecture must be "lstm" or "conv" when present');
}

/**
 * Parses a model folder's metadata.json. It checks what loading and scoring rely on (params,
 * channel names, calibrations); the params are checked against the topology separately.
 */
export function parseMetadata(text: string): ModelMetadata {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw invalid('metadata.json is not valid JSON', err);
  }
  if (!isObject(value)) throw invalid('metadata.json must hold an object');
  if (typeof value.version !== 'string' || typeof value.group !== 'string' || typeof value.createdAt !== 'string') {
    throw invalid('metadata.json: version, group and createdAt must be strings');
  }
  checkParamsShape(value.params);
  const channels = value.params.channels;
  if (
    !Array.isArray(value.channels) ||
    value.channels.length !== channels ||
    !value.channels.every((c) => typeof c === 'string')
  ) {
    throw invalid(`metadata.json: channels must list ${channels} channel names (params.channels)`);
  }
  if (!isObject(value.sensors)) throw invalid('metadata.json: sensors must be an object');
  for (const [sensor, calibration] of Object.entries(value.sensors))
    checkCalibration(calibration, channels, `sensors["${sensor}"]`);
  checkCalibration(value.fallback, channels, 'fallback');
  // Absent in models saved before the latent space was fitted: they score without one.
  if (value.latent !== undefined && !isLatentSpace(value.latent))
    throw invalid('metadata.json: latent must have size, mean, components, explained, precision, scale and sample');
  return value as unknown as ModelMetadata;
}

/** Saving refuses metadata that does not describe the model beside it. */
export function checkMetadataMatches(metadata: ModelMetadata, params: Readonly<ModelHyperParams>): void {
  const keys = Object.keys(params) as (keyof ModelHyperParams)[];
  const differing = keys.filter((key) => metadata.params[key] !== params[key]);
  if (differing.length > 0) {
    throw invalid(
      `metadata params differ from the model's: ${differing.map((k) => `${k} ${metadata.params[k]} ≠ ${params[k]}`).join(', ')}`,
    );
  }
  if (metadata.channels.length !== params.channels) {
    throw invalid(`metadata names ${metadata.channels.length} channels, the model has ${params.channels}`);
  }
}
