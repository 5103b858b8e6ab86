type Rows = ReadonlyArray<readonly string[]>;

/**
 * A plain-text table: columns padded to their widest cell, numbers (and `—`) right-aligned;
 * `footer` rows (totals) come after a second rule.
 */
export function formatTable(header: readonly string[], rows: Rows, footer: Rows = []): string {
  const all = [header, ...rows, ...footer];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const numeric = header.map((_, c) => [...rows, ...footer].every((r) => /^(-?[\d.,/]+ ?%?|—|)$/.test(r[c] ?? '')));
  const line = (r: readonly string[]): string =>
    r
      .map((cell, c) => (numeric[c] && c > 0 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const foot = footer.length > 0 ? [rule, ...footer.map(line)] : [];
  return [line(header), rule, ...rows.map(line), ...foot].join('\n') + '\n';
}

/** `x` with `digits` decimals, `—` when missing. */
export function fixed(x: number | undefined, digits: number): string {
  return x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);
}
