// The bench's tables on the console, padded (the tables themselves are defined in tables.ts).
import type { Row } from './rows.js';
import { benchTables, NO_KAFKA_ROW, type Cell } from './tables.js';

function table(headers: string[], rows: Cell[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return (
    [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n') +
    '\n'
  );
}

/** Every table that has rows, in the bench's order, and a line saying when there is no Kafka row. */
export function printTables(rows: readonly Row[], out: { write(s: string): unknown }): void {
  for (const t of benchTables(rows, (n) => n)) {
    out.write(`\n${t.title}: ${t.detail}\n`);
    for (const note of t.notes) out.write(`(${note})\n`);
    out.write(table(t.headers, t.rows));
  }
  if (!rows.some((r) => r.name === 'kafka')) out.write(`\n${NO_KAFKA_ROW}\n`);
}
