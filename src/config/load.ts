import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AemonError } from '../errors.js';
import { configSchema, type Config } from './schema.js';
import { deprecations } from './deprecated.js';
import { ENV_PREFIX, envName } from './names.js';

export { envName };

type Leaf = { path: string[]; kind: 'number' | 'boolean' | 'string' | 'array' };

function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  let s = schema;
  for (;;) {
    if (s instanceof z.ZodDefault) s = s._def.innerType;
    else if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap();
    else if (s instanceof z.ZodEffects) s = s.innerType();
    else return s;
  }
}

function leaves(schema: z.ZodTypeAny, path: string[] = []): Leaf[] {
  const s = unwrap(schema);
  if (s instanceof z.ZodObject) {
    return Object.entries(s.shape as Record<string, z.ZodTypeAny>).flatMap(([k, v]) => leaves(v, [...path, k]));
  }
  if (s instanceof z.ZodNumber) return [{ path, kind: 'number' }];
  if (s instanceof z.ZodBoolean) return [{ path, kind: 'boolean' }];
  if (s instanceof z.ZodArray) return [{ path, kind: 'array' }];
  return [{ path, kind: 'string' }];
}

/** Every config leaf with its env variable name, for `--help` and docs/configuration.md. */
export function configLeaves(): Array<{ path: string; env: string; kind: Leaf['kind'] }> {
  return leaves(configSchema).map((l) => ({ path: l.path.join('.'), env: envName(l.path), kind: l.kind }));
}

function coerce(leaf: Leaf, name: string, raw: string): unknown {
  switch (leaf.kind) {
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) {
        throw new AemonError('AEMON_CONFIG_INVALID', `${name}=${JSON.stringify(raw)} is not a number`, {
          stage: 'config',
        });
      }
      return n;
    }
    case 'boolean':
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new AemonError('AEMON_CONFIG_INVALID', `${name}=${JSON.stringify(raw)} is not true or false`, {
        stage: 'config',
      });
    case 'array':
      return raw
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
    case 'string':
      return raw;
  }
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** Overrides from `AEMON_*` variables; an `AEMON_` variable that names no setting is an error. */
export function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const byName = new Map(leaves(configSchema).map((l) => [envName(l.path), l]));
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const leaf = byName.get(name);
    if (!leaf) {
      throw new AemonError('AEMON_CONFIG_INVALID', `unknown environment variable ${name} (no such setting)`, {
        stage: 'config',
      });
    }
    setPath(out, leaf.path, coerce(leaf, name, raw));
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge: later layers win; arrays are replaced, not merged. */
export function mergeLayers(...layers: Array<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      const prev = out[k];
      out[k] = isPlainObject(prev) && isPlainObject(v) ? mergeLayers(prev, v) : v;
    }
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function describeIssue(issue: z.ZodIssue, origin: string): string {
  const where = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (issue.path.length > 0 ? `${where}.${k}` : k));
    return `${origin}: unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`;
  }
  return `${origin}: ${where}: ${issue.message}`;
}

/** What loading a config had to say besides errors (deprecated keys), by the config it made. */
const loadWarnings = new WeakMap<object, readonly string[]>();

/**
 * The warnings loading `cfg` gave: one line per deprecated key it used, naming the key that
 * replaces it. Whoever holds a logger logs them (the engine does, at start).
 */
export function configWarnings(cfg: Readonly<Config>): readonly string[] {
  return loadWarnings.get(cfg) ?? [];
}

/** Validates a raw object against the schema: defaults filled, result frozen. */
export function parseConfig(raw: unknown, origin = 'config'): Readonly<Config> {
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    const lines = result.error.issues.map((i) => describeIssue(i, origin));
    throw new AemonError('AEMON_CONFIG_INVALID', lines.join('; '), { stage: 'config' });
  }
  const cfg = deepFreeze(result.data);
  const warnings = deprecations(raw, origin);
  if (warnings.length > 0) loadWarnings.set(cfg, Object.freeze(warnings));
  return cfg;
}

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new AemonError('AEMON_CONFIG_READ', `cannot read config file ${file}: ${(cause as Error).message}`, {
      stage: 'config',
      cause,
    });
  }
  let parsed: unknown;
  try {
    parsed = extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (cause) {
    throw new AemonError(
      'AEMON_CONFIG_INVALID',
      `${file}: not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(cause as Error).message}`,
      { stage: 'config', cause },
    );
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isPlainObject(parsed)) {
    throw new AemonError('AEMON_CONFIG_INVALID', `${file}: the top level must be a mapping of sections`, {
      stage: 'config',
    });
  }
  return parsed;
}

export interface LoadOptions {
  /** A command's own defaults (e.g. the demo's shorter training); file, env and flags win. */
  defaults?: Record<string, unknown>;
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Command-line flags, already shaped like the config; they win over env and file. */
  overrides?: Record<string, unknown>;
}

/** Command defaults, then file, then `AEMON_*` env, then command-line overrides; validated and frozen. */
export function loadConfig(options: LoadOptions = {}): Readonly<Config> {
  const fromFile = options.file ? readConfigFile(options.file) : {};
  const fromEnv = envOverrides(options.env ?? process.env);
  const merged = mergeLayers(options.defaults ?? {}, fromFile, fromEnv, options.overrides ?? {});
  return parseConfig(merged, options.file ?? 'config');
}
