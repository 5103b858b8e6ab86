import type { ReadingConfig } from '../../config/schema.js';
import type { Decoded, SourceRecord } from '../../pipeline/contracts.js';
import { compileTemplate, type Template } from './shared.js';
import type { Validator } from './validate.js';

/** A Telegraf metric, whichever serializer wrote it: measurement, tags, fields, time. */
export interface Metric {
  name: string;
  /** Tag key → value, as written. */
  tags: ReadonlyArray<readonly [string, string]>;
  fields: ReadonlyArray<readonly [string, unknown]>;
  /** The time value (undefined: the record timestamp). */
  time: unknown;
}

/** Sensor id of a metric: `name,k1=v1,k2=v2` with the tags in key order (the measurement alone without tags). */
export function defaultSensorId(m: Metric): string {
  if (m.tags.length === 0) return m.name;
  const sorted = [...m.tags].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let id = m.name;
  for (const [k, v] of sorted) id += `,${k}=${v}`;
  return id;
}

function lookup(m: Metric, path: string): unknown {
  if (path === 'name' || path === 'measurement') return m.name;
  const dot = path.indexOf('.');
  const scope = dot === -1 ? 'tags' : path.slice(0, dot);
  const key = dot === -1 ? path : path.slice(dot + 1);
  if (scope === 'tags') return m.tags.find(([k]) => k === key)?.[1];
  if (scope === 'fields') return m.fields.find(([k]) => k === key)?.[1];
  return undefined;
}

/**
 * The shared step of `influx` and `telegraf-json`: sensor id (template or default), fields →
 * channels (booleans as 0/1; strings left out unless the allow-list names them, when the
 * checks reject them), then the checks every format shares.
 */
export function metricReader(cfg: ReadingConfig, v: Validator): (rec: SourceRecord, m: Metric) => Decoded {
  const template: Template | undefined =
    cfg.sensorTemplate === undefined ? undefined : compileTemplate(cfg.sensorTemplate);
  const allow = cfg.channels.length > 0 ? new Set(cfg.channels) : undefined;
  return (rec, m) => {
    let sensor: string | undefined;
    let why = '';
    if (template === undefined) sensor = defaultSensorId(m);
    else {
      const id = template.render((path) => lookup(m, path));
      if (typeof id === 'string') sensor = id;
      else why = `no ${id.missing} for the sensor template ${cfg.sensorTemplate}`;
    }
    const values: Record<string, unknown> = {};
    for (const [k, value] of m.fields) {
      if (allow !== undefined && !allow.has(k)) continue;
      if (typeof value === 'boolean') values[k] = value ? 1 : 0;
      else if (typeof value !== 'string' || allow !== undefined) values[k] = value;
    }
    return v.check(rec, { sensor, noSensor: why, ts: m.time, timeName: 'timestamp', values, valuesName: 'fields' });
  };
}
