import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { ReadingConfig } from '../../config/schema.js';
import { AemonError } from '../../errors.js';

/** A schema as the registry's `GET /schemas/ids/{id}` gives it. */
export interface RegistrySchema {
  /** `AVRO` (the registry's default when it names none), `PROTOBUF` or `JSON`. */
  type: string;
  text: string;
  /** Other schemas it imports; aemon reads only schemas without references. */
  references: number;
}

/**
 * Why a schema could not be had. `permanent`: the registry answered that it has no such schema
 * (dead-letter the record); otherwise the registry is down or refused the credentials, and the
 * record must wait.
 */
export class RegistryError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

export interface SchemaRegistryClient {
  /** The schema with this id; throws {@link RegistryError}. */
  schema(id: number): Promise<RegistrySchema>;
}

type RegistryConfig = ReadingConfig['schemaRegistry'];

/**
 * A client of the Confluent-compatible REST API (Confluent, Apicurio's `ccompat`, Karapace):
 * only the lookup of a schema by id. Basic auth and a private CA as configured.
 */
export function createRegistryClient(cfg: RegistryConfig): SchemaRegistryClient {
  if (cfg.url === undefined)
    throw new AemonError('AEMON_CONFIG_INVALID', 'reading.schemaRegistry.url is not set', { stage: 'config' });
  const base = new URL(cfg.url.endsWith('/') ? cfg.url : `${cfg.url}/`);
  let ca: Buffer | undefined;
  if (cfg.tls.ca !== undefined) {
    try {
      ca = readFileSync(cfg.tls.ca);
    } catch (err) {
      throw new AemonError('AEMON_CONFIG_READ', `reading.schemaRegistry.tls.ca: ${(err as Error).message}`, {
        stage: 'config',
        cause: err,
      });
    }
  }
  const headers: Record<string, string> = { accept: 'application/vnd.schemaregistry.v1+json, application/json' };
  if (cfg.username !== undefined && cfg.password !== undefined)
    headers.authorization = `Basic ${Buffer.from(`${cfg.username}:${cfg.password}`).toString('base64')}`;
  const agentOptions = {
    keepAlive: true,
    ...(ca === undefined ? {} : { ca }),
    rejectUnauthorized: cfg.tls.rejectUnauthorized,
  };
  const agent = base.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent({ keepAlive: true });
  const request = base.protocol === 'https:' ? https.request : http.request;

  const get = (url: URL): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = request(url, { method: 'GET', headers, agent, timeout: cfg.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${cfg.timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });

  return {
    async schema(id) {
      const url = new URL(`schemas/ids/${id}`, base);
      let res: { status: number; body: string };
      try {
        res = await get(url);
      } catch (err) {
        throw new RegistryError(`schema registry ${base.origin}: ${(err as Error).message}`, false);
      }
      if (res.status === 404) throw new RegistryError(`schema id ${id} is not in the registry`, true);
      if (res.status !== 200)
        throw new RegistryError(`schema registry ${base.origin} answered ${res.status} for schema id ${id}`, false);
      let doc: unknown;
      try {
        doc = JSON.parse(res.body);
      } catch {
        throw new RegistryError(`schema registry ${base.origin} answered with no JSON for schema id ${id}`, false);
      }
      const d = doc as { schema?: unknown; schemaType?: unknown; references?: unknown };
      if (typeof d.schema !== 'string')
        throw new RegistryError(`schema registry ${base.origin} answered without a schema for id ${id}`, false);
      return {
        type: typeof d.schemaType === 'string' ? d.schemaType.toUpperCase() : 'AVRO',
        text: d.schema,
        references: Array.isArray(d.references) ? d.references.length : 0,
      };
    },
  };
}
