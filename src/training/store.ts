import { AemonError } from '../errors.js';
import type { Autoencoder, ModelBundle, SensorCalibration } from '../pipeline/model.js';

interface Slot {
  channels: string[];
  bundle?: ModelBundle;
}

/**
 * The models in use, one per model group: what scoring reads, what a promotion, a rollback or a
 * models-topic record swaps. A replaced model may still be in a scoring batch's hands, so it is
 * disposed only when that batch settles.
 */
export class ModelStore {
  /** In the order groups became known (loaded, swapped in, or opened by the bootstrap). */
  private readonly slots = new Map<string, Slot>();
  /** Models replaced while a scoring batch may still hold them; disposed when it settles. */
  private retired: Autoencoder[] = [];
  /** {@link modelChannels} per sensor (null: no model has it), until a model is put or swapped in. */
  private readonly sensorChannels = new Map<string, readonly string[] | null>();

  constructor(loaded: readonly ModelBundle[] = []) {
    for (const bundle of loaded) {
      this.slots.set(bundle.metadata.group, { channels: [...bundle.metadata.channels], bundle });
    }
  }

  models(): ModelBundle[] {
    return [...this.slots.values()].flatMap((s) => (s.bundle ? [s.bundle] : []));
  }

  get(group: string): ModelBundle | undefined {
    return this.slots.get(group)?.bundle;
  }

  /** The group's channels, once the group is known (with or without a model). */
  channels(group: string): string[] | undefined {
    return this.slots.get(group)?.channels;
  }

  /** Makes a group known before it has a model (its bootstrap started). */
  open(group: string, channels: string[]): void {
    if (!this.slots.has(group)) this.slots.set(group, { channels });
  }

  /** A group's first model, trained for its channels. */
  put(bundle: ModelBundle): void {
    this.sensorChannels.clear();
    const slot = this.slots.get(bundle.metadata.group);
    if (slot) slot.bundle = bundle;
    else this.slots.set(bundle.metadata.group, { channels: [...bundle.metadata.channels], bundle });
  }

  /**
   * Scores the bundle's group with it from now on; the model it replaces is disposed after the
   * scoring batch in flight. A model for other channels than the group's is refused.
   */
  swap(bundle: ModelBundle): void {
    this.sensorChannels.clear();
    const { group, channels } = bundle.metadata;
    const slot = this.slots.get(group);
    if (!slot) {
      this.slots.set(group, { channels: [...channels], bundle });
      return;
    }
    if (slot.channels.join(',') !== channels.join(',')) {
      throw new AemonError(
        'AEMON_MODEL_INVALID',
        `a model for channels [${channels.join(',')}] cannot replace one for [${slot.channels.join(',')}]`,
        { stage: 'training' },
      );
    }
    const old = slot.bundle;
    slot.bundle = bundle;
    if (old && old.model !== bundle.model) this.retired.push(old.model);
  }

  /** A sensor calibrated against a model it scored with (a new sensor of a trained group): the model has it from now on. */
  calibrated(bundle: ModelBundle, sensor: string, calibration: SensorCalibration): void {
    bundle.metadata.sensors[sensor] = calibration;
    this.sensorChannels.delete(sensor);
  }

  /** The scoring batch in flight settled: the models it held and that were replaced are disposed. */
  batchSettled(): void {
    const retired = this.retired;
    if (retired.length === 0) return;
    this.retired = [];
    for (const model of retired) model.dispose();
  }

  /** The channels of the model that has `sensor` in its metadata, if one has. Runs per reading: a map lookup once known. */
  modelChannels(sensor: string): readonly string[] | undefined {
    const known = this.sensorChannels.get(sensor);
    if (known !== undefined) return known ?? undefined;
    let found: readonly string[] | null = null;
    for (const s of this.slots.values()) {
      if (s.bundle && Object.hasOwn(s.bundle.metadata.sensors, sensor)) {
        found = s.bundle.metadata.channels;
        break;
      }
    }
    // Bounded: a stream of ever-new sensor ids cannot grow it past this.
    if (this.sensorChannels.size >= 100_000) this.sensorChannels.clear();
    this.sensorChannels.set(sensor, found);
    return found ?? undefined;
  }

  /** Frees every model (the end of a process). */
  dispose(): void {
    this.batchSettled();
    for (const s of this.slots.values()) s.bundle?.model.dispose();
  }
}
