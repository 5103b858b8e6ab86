// The chaos suite's tables, from the same results `--json` writes. Pure.
import type { ScenarioResult } from './scenario.js';
import type { SoakResult } from './soak.js';

export function table(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = [headers.map(String), ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(cells[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join(
    '\n',
  );
}

const dash = (x: number | null): string | number => (x === null ? '—' : x);

export function scenarioTable(results: readonly ScenarioResult[]): string {
  return table(
    [
      'scenario',
      'readings in',
      'scored',
      'DLQ',
      'missing',
      'duplicates',
      'divergent dup.',
      'restarts',
      'max lag',
      'recovery s',
      'verdict',
    ],
    results.map((r) => [
      r.name + (r.exactlyOnce ? ' (exactly-once)' : ''),
      r.readingsIn,
      r.scored,
      r.dlq,
      r.missing,
      r.duplicates,
      r.divergentDuplicates,
      r.restarts,
      r.maxLag,
      dash(r.recoverySeconds),
      r.ok ? 'ok' : `FAIL${r.extra > 0 ? ` (${r.extra} extra)` : ''}${r.differs > 0 ? ` (${r.differs} differ)` : ''}`,
    ]),
  );
}

export function soakTable(s: SoakResult): string {
  const series = table(
    ['minute', 'RSS MB', 'heap MB', 'lag', 'p99 reading→score s', 'readings'],
    s.samples.map((x) => [x.minute, dash(x.rssMB), dash(x.heapMB), dash(x.lag), dash(x.p99Seconds), dash(x.readings)]),
  );
  const summary = table(
    [
      'sensors',
      'rate Hz',
      'minutes',
      'offered',
      'into Kafka',
      'aemon readings/s',
      'max lag',
      'max p99 s',
      'RSS slope, last half (MB/min)',
    ],
    [
      [
        s.sensors,
        s.rateHz,
        s.minutes,
        s.offered,
        s.readingsIn,
        s.readingsPerSecond,
        s.maxLag,
        dash(s.maxP99Seconds),
        dash(s.rssSlopeMBPerMinLastHalf),
      ],
    ],
  );
  return `${summary}\n\n${series}`;
}
