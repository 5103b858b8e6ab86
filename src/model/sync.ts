import type { ModelMessage, ModelRecord } from './record.js';
import { decodeModelRecord, encodeModelRecord } from './record.js';
import type { Logger } from '../observability/logger.js';
import type { ModelRecordResult } from '../observability/metrics.js';
import { inheritSensors } from '../pipeline/model.js';
import type { ModelBundle } from '../pipeline/model.js';

/** Largest models-topic record (a model's folder, base64; metadata grows with its sensors). */
export const MODEL_RECORD_MAX_BYTES = 16 * 1024 * 1024;

export interface ModelSyncOptions {
  topic: string;
  log: Logger;
  /** This instance retrains: it publishes its promotions, and its own later promotions win over older records. */
  publishing: boolean;
  /** Names this instance in its records (host/pid). */
  origin: string;
  /** The group's model in use. */
  current(group: string): ModelBundle | undefined;
  load(record: ModelRecord): Promise<ModelBundle>;
  /** Makes `bundle` the group's model: the swap between batches and the registry promotion a local promotion gets. */
  adopt(bundle: ModelBundle, record: ModelRecord): Promise<void>;
  /** Writes a record to the topic (acks from all in-sync replicas). */
  send(message: ModelMessage): Promise<void>;
  count(result: ModelRecordResult): void;
}

/**
 * Both ends of the models topic for one instance. A record read is applied unless its version
 * is already current (e.g. this instance's own publication) or it is older than the current
 * model: published before the last record applied here, or — on an instance that publishes —
 * before its own current model was promoted. A record that fails its checksums or shape is
 * refused and counted; the current model stays.
 */
export class ModelSync {
  /** Per group: when the model in use was published or promoted here (epoch ms). */
  private readonly since = new Map<string, number>();
  /** Per group: the version of the latest record read that was not refused. */
  private readonly onTopic = new Map<string, string>();
  private publishing: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: ModelSyncOptions) {}

  /** Publishes a promotion of this instance (bootstrap, retrained, rolled back); does nothing on a follower. */
  publish(bundle: ModelBundle): Promise<void> {
    const { opts } = this;
    if (!opts.publishing) return Promise.resolve();
    const { group, version } = bundle.metadata;
    const at = Date.now();
    this.since.set(group, at);
    // One after another, so the topic holds promotions in the order they happened.
    const next = this.publishing.then(async () => {
      try {
        const message = await encodeModelRecord(bundle, at, opts.origin);
        if (message.value.byteLength > MODEL_RECORD_MAX_BYTES)
          throw new Error(`the record is ${message.value.byteLength} bytes, over ${MODEL_RECORD_MAX_BYTES}`);
        await opts.send(message);
        opts.count('published');
        opts.log.info(
          { topic: opts.topic, group, version, bytes: message.value.byteLength },
          `published model ${version} [${group}] to ${opts.topic}`,
        );
      } catch (err) {
        opts.count('publish_failed');
        opts.log.error(
          { err, topic: opts.topic, group, version },
          `cannot publish model ${version} [${group}] to ${opts.topic}: ${(err as Error).message}`,
        );
      }
    });
    this.publishing = next;
    return next;
  }

  /**
   * Publishes each of `bundles` the topic does not end with (e.g. a publication that failed
   * before a restart); run once the topic has been read up to its end.
   */
  async announce(bundles: readonly ModelBundle[]): Promise<void> {
    for (const b of bundles) if (this.onTopic.get(b.metadata.group) !== b.metadata.version) await this.publish(b);
  }

  /** Settles when every publication so far has been written or has failed. */
  idle(): Promise<unknown> {
    return this.publishing;
  }

  /** One record of the topic. */
  async receive(raw: Uint8Array, key: string | undefined): Promise<ModelRecordResult> {
    const { opts } = this;
    let record: ModelRecord;
    try {
      record = decodeModelRecord(raw, key);
    } catch (err) {
      return this.refuse(key, undefined, err);
    }
    const { group, version } = record;
    this.onTopic.set(group, version);
    const cur = opts.current(group);
    const since =
      this.since.get(group) ??
      (opts.publishing && cur?.metadata.promotion ? Date.parse(cur.metadata.promotion.promotedAt) : undefined);
    const skip = (why: string): ModelRecordResult => {
      opts.count('skipped');
      opts.log.info(
        { topic: opts.topic, group, version, origin: record.origin },
        `${opts.topic}: model ${version} [${group}] skipped: ${why}`,
      );
      return 'skipped';
    };
    if (cur?.metadata.version === version) return skip('already current');
    if (since !== undefined && record.publishedAt < since)
      return skip(
        `published ${new Date(record.publishedAt).toISOString()}, before the current model ${cur?.metadata.version ?? ''}`,
      );
    let bundle: ModelBundle;
    try {
      bundle = await opts.load(record);
    } catch (err) {
      return this.refuse(key, version, err);
    }
    try {
      if (cur) inheritSensors(bundle, cur);
      await opts.adopt(bundle, record);
    } catch (err) {
      bundle.model.dispose();
      return this.refuse(key, version, err);
    }
    this.since.set(group, record.publishedAt);
    opts.count('applied');
    opts.log.info(
      { topic: opts.topic, group, version, origin: record.origin, replaced: cur?.metadata.version },
      `${opts.topic}: now scoring [${group}] with model ${version} published by ${record.origin}`,
    );
    return 'applied';
  }

  private refuse(key: string | undefined, version: string | undefined, err: unknown): ModelRecordResult {
    const { opts } = this;
    opts.count('refused');
    const cur = key === undefined ? undefined : opts.current(key)?.metadata.version;
    const keeps = cur ? `; model ${cur} stays in use` : '';
    opts.log.error(
      { topic: opts.topic, key, version, code: (err as { code?: string }).code },
      `${opts.topic}: refused a record${version ? ` of model ${version}` : ''} for [${key ?? ''}]: ${(err as Error).message}${keeps}`,
    );
    return 'refused';
  }
}
