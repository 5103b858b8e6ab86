/**
 * Display downsampling for charts (the live view and the HTML reports): a series of any length becomes at most a few points
 * per pixel column, keeping each column's minimum and maximum so spikes stay visible, and keeping
 * missing values (NaN) as gaps.
 */

/** Downsampled series sharing one x axis; `null` marks a gap (what uPlot draws as a break). */
export interface Downsampled {
  x: number[];
  ys: Array<Array<number | null>>;
}

const finite = (v: number): boolean => Number.isFinite(v);

/**
 * Min/max per column: the x range is cut into `columns` equal spans; each span with readings
 * gives the first and last of its series' extremes in time order (2 points: min and max, at the
 * span's first and last x), plus a third, `null` point for each series that has a NaN in the
 * span, so a gap narrower than a column still breaks the line. Input of at most `2 × columns`
 * points comes back as it is (NaN → null). `x` must be ascending.
 */
export function minMaxDownsample(
  x: ArrayLike<number>,
  ys: ReadonlyArray<ArrayLike<number>>,
  columns: number,
): Downsampled {
  if (!Number.isInteger(columns) || columns < 1)
    throw new RangeError(`columns must be a positive integer, got ${columns}`);
  const n = x.length;
  for (const y of ys) if (y.length !== n) throw new RangeError(`series of ${y.length} values for ${n} x values`);
  if (n <= 2 * columns) {
    return {
      x: Array.from(x),
      ys: ys.map((y) => Array.from(y, (v) => (finite(v) ? v : null))),
    };
  }
  const out: Downsampled = { x: [], ys: ys.map(() => []) };
  const t0 = x[0]!;
  const span = x[n - 1]! - t0;
  const columnOf = (t: number): number => Math.min(columns - 1, Math.floor(((t - t0) / span) * columns));
  let a = 0;
  while (a < n) {
    // [a, b): the readings of one column (by time; by index when every x is the same).
    let b = a + 1;
    if (span > 0) {
      const col = columnOf(x[a]!);
      while (b < n && columnOf(x[b]!) === col) b++;
    } else {
      b = Math.min(n, a + Math.ceil(n / columns));
    }
    emitColumn(x, ys, a, b, out);
    a = b;
  }
  return out;
}

function emitColumn(
  x: ArrayLike<number>,
  ys: ReadonlyArray<ArrayLike<number>>,
  a: number,
  b: number,
  out: Downsampled,
): void {
  const first: Array<number | null> = [];
  const second: Array<number | null> = [];
  const gap: boolean[] = [];
  for (const y of ys) {
    let iMin = -1;
    let iMax = -1;
    let hasNaN = false;
    for (let i = a; i < b; i++) {
      const v = y[i]!;
      if (!finite(v)) {
        hasNaN = true;
        continue;
      }
      if (iMin < 0 || v < y[iMin]!) iMin = i;
      if (iMax < 0 || v > y[iMax]!) iMax = i;
    }
    gap.push(hasNaN);
    if (iMin < 0) {
      first.push(null);
      second.push(null);
    } else {
      const [p, q] = iMin <= iMax ? [iMin, iMax] : [iMax, iMin];
      first.push(y[p]!);
      second.push(y[q]!);
    }
  }
  out.x.push(x[a]!);
  out.ys.forEach((s, k) => s.push(first[k]!));
  if (b - a > 1) {
    out.x.push(x[b - 1]!);
    out.ys.forEach((s, k) => s.push(second[k]!));
  }
  if (gap.some(Boolean)) {
    out.x.push(x[b - 1]!);
    out.ys.forEach((s, k) => s.push(gap[k] ? null : second[k]!));
  }
}

/** Spans `[from, to]` (x of the first and last flagged point) of consecutive flagged points. */
export function flaggedSpans(x: ArrayLike<number>, flagged: (i: number) => boolean): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let start = -1;
  for (let i = 0; i < x.length; i++) {
    if (flagged(i)) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      spans.push([x[start]!, x[i - 1]!]);
      start = -1;
    }
  }
  if (start >= 0) spans.push([x[start]!, x[x.length - 1]!]);
  return spans;
}

/**
 * Up to `budget` indices of `classes` (each entry a small non-negative class number), ascending,
 * for a scatter that must stay small: the budget is shared evenly among the classes present, a
 * class with fewer entries than its share keeps them all and leaves the rest to the others, and
 * each class's entries are taken evenly spread in order. So rare classes (anomalous windows) are
 * all kept however many common ones there are. The last entry is always among them.
 */
export function sampleByClass(classes: ArrayLike<number>, budget: number): number[] {
  if (!Number.isInteger(budget) || budget < 1) throw new RangeError(`budget must be a positive integer, got ${budget}`);
  const n = classes.length;
  if (n <= budget) return Array.from({ length: n }, (_v, i) => i);
  const members = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const c = classes[i]!;
    let list = members.get(c);
    if (list === undefined) members.set(c, (list = []));
    list.push(i);
  }
  // Water-filling: the smallest classes first, each taking at most an even share of what is left.
  const lists = [...members.values()].sort((a, b) => a.length - b.length);
  const picked: number[] = [];
  let left = budget - 1;
  lists.forEach((list, k) => {
    const share = Math.min(list.length, Math.floor(left / (lists.length - k)));
    for (let j = 0; j < share; j++) picked.push(list[Math.floor(((j + 0.5) * list.length) / share)]!);
    left -= share;
  });
  const last = n - 1;
  if (!picked.includes(last)) picked.push(last);
  return picked.sort((a, b) => a - b);
}
