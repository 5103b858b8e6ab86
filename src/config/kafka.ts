import { readFileSync } from 'node:fs';
import { CompressionTypes, type KafkaConfig as KafkaJsConfig, type SASLOptions } from 'kafkajs';
import { AemonError } from '../errors.js';
import type { KafkaConfig } from './schema.js';

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (cause) {
    throw new AemonError('AEMON_CONFIG_READ', `kafka.tls.${what}: cannot read ${path}: ${(cause as Error).message}`, {
      stage: 'config',
      cause,
    });
  }
}

/** kafkajs client options from aemon's `kafka` config: brokers, TLS files, SASL. */
export function kafkaClientOptions(cfg: KafkaConfig, clientIdSuffix = ''): KafkaJsConfig {
  const options: KafkaJsConfig = {
    clientId: cfg.clientId + clientIdSuffix,
    brokers: [...cfg.brokers],
    // kafkajs' defaults retry a few times over ~10 s; a broker restart takes longer than that.
    retry: { initialRetryTime: 300, retries: 12, maxRetryTime: 10_000 },
    connectionTimeout: 5_000,
  };
  if (cfg.tls.enabled) {
    options.ssl = {
      rejectUnauthorized: cfg.tls.rejectUnauthorized,
      ...(cfg.tls.ca ? { ca: [readPem(cfg.tls.ca, 'ca')] } : {}),
      ...(cfg.tls.cert ? { cert: readPem(cfg.tls.cert, 'cert') } : {}),
      ...(cfg.tls.key ? { key: readPem(cfg.tls.key, 'key') } : {}),
    };
  }
  if (cfg.sasl) options.sasl = { ...cfg.sasl } as SASLOptions;
  return options;
}

/** Topic names stay strings; `/pattern/flags` entries become regular expressions. */
export function topicPatterns(topics: readonly string[]): Array<string | RegExp> {
  return topics.map((t) => {
    const m = /^\/(.+)\/([a-z]*)$/.exec(t);
    if (!m) return t;
    try {
      return new RegExp(m[1]!, m[2]);
    } catch (cause) {
      throw new AemonError('AEMON_CONFIG_INVALID', `kafka.topics: ${t} is not a valid regular expression`, {
        stage: 'config',
        cause,
      });
    }
  });
}

/** kafkajs' compression type for `kafka.compression`. */
export function compressionType(codec: KafkaConfig['compression']): CompressionTypes {
  return {
    none: CompressionTypes.None,
    gzip: CompressionTypes.GZIP,
    snappy: CompressionTypes.Snappy,
    lz4: CompressionTypes.LZ4,
    zstd: CompressionTypes.ZSTD,
  }[codec];
}
