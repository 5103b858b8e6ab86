// The rows the bench measures, one type per table, and how rows measured in several rounds merge.
import { quantile } from '../src/pipeline/calibration.js';
import type { DecodeRow } from './decode.js';
import type { KafkaRow } from './kafka.js';
import type { MemoryRow } from './memory.js';
import type { PacedRow } from './paced.js';
import type { PipelineRow, ScrapeRow } from './pipeline.js';
import type { RetrainRow } from './retrain.js';

export interface ModelRow {
  /** `-m0`: model M0, the LSTM autoencoder; `-conv`: the convolutional autoencoder of the same window and units. */
  /** `encode-`: the bottleneck codes alone (`scoring.latent` adds one such pass to each scoring call); no Keras peer row. */
  name: 'score-m0' | 'encode-m0' | 'train-m0' | 'score-conv' | 'encode-conv' | 'train-conv';
  engine: string;
  channels: number;
  windowsPerSecond: number;
  note?: string;
  /** The network's parameter count, when the engine reports it (aemon always; the Keras peer in bench/ too). */
  parameters?: number;
  /** The conv network's Conv1D layers as `name:filters:kernel:strides` (src/model/conv.ts `convLayersOf`). */
  convLayers?: string[];
  /** windows/s of each round, in round order, when the row was measured in more than one. */
  samples?: number[];
}

export type Row = ModelRow | PipelineRow | PacedRow | ScrapeRow | KafkaRow | RetrainRow | DecodeRow | MemoryRow;

/**
 * One row per (row, engine, channels) from rows measured in several rounds: windows/s is the
 * median of the rounds, `samples` keeps each round's figure in order.
 */
export function mergeRounds(rounds: ReadonlyArray<readonly ModelRow[]>): ModelRow[] {
  const merged = new Map<string, ModelRow & { samples: number[] }>();
  for (const round of rounds) {
    for (const r of round) {
      const key = `${r.name}|${r.engine}|${r.channels}`;
      const m = merged.get(key);
      if (m) m.samples.push(r.windowsPerSecond);
      else merged.set(key, { ...r, samples: [r.windowsPerSecond] });
    }
  }
  return [...merged.values()].map(({ samples, ...r }) =>
    samples.length > 1 ? { ...r, windowsPerSecond: Math.round(quantile(samples, 0.5)), samples } : r,
  );
}

/** The Keras row a row is compared with: the same row name and channels. */
export function kerasRowOf(rows: readonly ModelRow[], row: ModelRow): ModelRow | undefined {
  return rows.find((k) => k.engine === 'keras' && k.name === row.name && k.channels === row.channels);
}

/**
 * A row's ratio to the Keras row of the same name and channels: with the same number of rounds
 * on both sides, the median of the round-by-round ratios (each pair measured minutes apart, so
 * the machine's drift cancels); otherwise the ratio of the two windows/s.
 */
export function kerasRatio(row: ModelRow, keras: ModelRow | undefined): number | undefined {
  if (keras === undefined) return undefined;
  const a = row.samples;
  const b = keras.samples;
  if (a && b && a.length === b.length)
    return quantile(
      a.map((x, i) => x / b[i]!),
      0.5,
    );
  return row.windowsPerSecond / keras.windowsPerSecond;
}

/**
 * Why a row and its Keras row are not the same network, when the two report different parameter
 * counts or Conv1D layers; undefined when they agree or either does not say.
 */
export function networkMismatch(row: ModelRow, keras: ModelRow | undefined): string | undefined {
  if (keras === undefined || row.engine === 'keras') return undefined;
  const differs: string[] = [];
  if (row.parameters !== undefined && keras.parameters !== undefined && row.parameters !== keras.parameters)
    differs.push(`${row.parameters} parameters, Keras ${keras.parameters}`);
  const a = row.convLayers?.join(', ');
  const b = keras.convLayers?.join(', ');
  if (a !== undefined && b !== undefined && a !== b) differs.push(`Conv1D layers [${a}], Keras [${b}]`);
  return differs.length === 0
    ? undefined
    : `${row.name} ${row.engine}, ${row.channels} channel(s): ${differs.join('; ')}`;
}
