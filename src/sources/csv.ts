import type { ParsedFields, SourceRecord } from '../pipeline/contracts.js';

export type CsvFormat = 'auto' | 'nab' | 'skab' | 'csv';

/** Where things are in a CSV file's rows, learnt from its header. */
export interface CsvLayout {
  delimiter: ',' | ';';
  columns: readonly string[];
  time: number;
  /** Index of the `sensor` column, or -1. */
  sensor: number;
  /** Index of the ground-truth column (`anomaly`, else `label`), or -1. */
  label: number;
  channels: ReadonlyArray<{ index: number; name: string }>;
}

const TIME_COLUMNS = ['timestamp', 'datetime', 'ts', 'time'];
const LABEL_COLUMNS = new Set(['anomaly', 'changepoint', 'label']);
const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Splits one line on `delimiter`, honouring double quotes (`""` inside quotes is a quote). */
export function splitCsvLine(line: string, delimiter: string): string[] {
  if (!line.includes('"')) return line.split(delimiter);
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === delimiter) {
      cells.push(cell);
      cell = '';
    } else cell += c;
  }
  cells.push(cell);
  return cells;
}

function sniffDelimiter(header: string): ',' | ';' {
  const outside = header.replace(/"[^"]*"/g, '');
  const semis = outside.split(';').length;
  const commas = outside.split(',').length;
  return semis > commas ? ';' : ',';
}

/** The layout of a CSV file from its header line, or a message saying why it is not one aemon reads. */
export function csvLayout(header: string, format: CsvFormat): CsvLayout | string {
  const delimiter = format === 'nab' ? ',' : format === 'skab' ? ';' : sniffDelimiter(header);
  const columns = splitCsvLine(header, delimiter).map((c) => c.trim());
  const lower = columns.map((c) => c.toLowerCase());
  if (format === 'nab' && (lower.length !== 2 || lower[0] !== 'timestamp' || lower[1] !== 'value')) {
    return `expected the NAB header "timestamp,value", got "${header.slice(0, 120)}"`;
  }
  if (format === 'skab' && !lower.includes('datetime')) {
    return `expected a SKAB header (";"-separated, with a "datetime" column), got "${header.slice(0, 120)}"`;
  }
  const time = lower.findIndex((c) => TIME_COLUMNS.includes(c));
  if (time < 0) return `no time column (one of ${TIME_COLUMNS.join(', ')}) in the header "${header.slice(0, 120)}"`;
  const sensor = lower.indexOf('sensor');
  const anomaly = lower.indexOf('anomaly');
  const label = anomaly >= 0 ? anomaly : lower.indexOf('label');
  const channels: Array<{ index: number; name: string }> = [];
  const seen = new Set<string>();
  columns.forEach((name, index) => {
    // An unnamed column is a pandas index, not a channel.
    if (index === time || index === sensor || name === '' || LABEL_COLUMNS.has(lower[index] as string)) return;
    channels.push({ index, name });
  });
  for (const { name } of channels) {
    if (seen.has(name)) return `duplicate column "${name}"`;
    seen.add(name);
  }
  if (channels.length === 0) return `no channel columns in the header "${header.slice(0, 120)}"`;
  return { delimiter, columns, time, sensor, label, channels };
}

/**
 * A cell's value: a number when it reads as one (also `NaN`, `Infinity`, so decode names them),
 * else the text as it is so decode rejects it as `non_finite`; `undefined` for an empty cell.
 */
export function parseCell(cell: string): number | string | undefined {
  const s = cell.trim();
  if (s === '') return undefined;
  if (NUMBER_RE.test(s)) return Number(s);
  if (/^[+-]?nan$/i.test(s)) return NaN;
  if (/^[+-]?inf(inity)?$/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  return s;
}

function parseLabel(cell: string | undefined): 0 | 1 | undefined {
  const v = cell === undefined ? NaN : Number(cell.trim());
  return v === 1 ? 1 : v === 0 ? 0 : undefined;
}

/** The parts of a {@link SourceRecord} that a CSV row gives: fields and label, or why it is invalid. */
export function csvRow(layout: CsvLayout, line: string): Pick<SourceRecord, 'fields' | 'invalid' | 'label'> {
  const cells = splitCsvLine(line, layout.delimiter);
  if (cells.length !== layout.columns.length) {
    return {
      invalid: { reason: 'bad_record', detail: `expected ${layout.columns.length} columns, got ${cells.length}` },
    };
  }
  const values: Record<string, unknown> = {};
  for (const { index, name } of layout.channels) {
    const v = parseCell(cells[index] as string);
    if (v !== undefined) values[name] = v;
  }
  const fields: ParsedFields = { ts: (cells[layout.time] as string).trim(), values };
  if (layout.sensor >= 0) {
    const sensor = (cells[layout.sensor] as string).trim();
    if (sensor !== '') fields.sensor = sensor;
  }
  const label = layout.label >= 0 ? parseLabel(cells[layout.label]) : undefined;
  return label === undefined ? { fields } : { fields, label };
}
