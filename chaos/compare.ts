// What a run under faults wrote, against what a fault-free run of the same input wrote. Pure:
// the records come in already read from the topics (chaos/outputs.ts).

/** One output record: `id` names what it stands for, `value` is the whole record as written. */
export interface OutputRecord {
  id: string;
  value: string;
}

export interface StreamComparison {
  /** Distinct ids the fault-free run wrote. */
  expected: number;
  /** Distinct ids the run under faults wrote. */
  distinct: number;
  /** Ids the fault-free run wrote and the run under faults did not. */
  missing: number;
  /** Ids only the run under faults wrote (a window or dead letter that should not exist). */
  extra: number;
  /** Copies beyond the first of an id, in the run under faults. */
  duplicates: number;
  /** Of those copies, the ones whose bytes differ from the id's first copy. */
  divergentDuplicates: number;
  /** Ids in both runs whose first copy differs from the fault-free run's. */
  differs: number;
  /** Up to five ids of each kind of finding, to start looking from. */
  examples: { missing: string[]; extra: string[]; divergent: string[]; differs: string[] };
  /** The first id whose bytes differ from the fault-free run's, with both versions. */
  firstDifference?: { id: string; reference: string; run: string };
}

const EXAMPLES = 5;

function firstCopies(records: readonly OutputRecord[]): {
  first: Map<string, string>;
  duplicates: number;
  divergent: string[];
} {
  const first = new Map<string, string>();
  let duplicates = 0;
  const divergent: string[] = [];
  for (const r of records) {
    const seen = first.get(r.id);
    if (seen === undefined) {
      first.set(r.id, r.value);
      continue;
    }
    duplicates++;
    if (seen !== r.value) divergent.push(r.id);
  }
  return { first, duplicates, divergent };
}

/** Compares one output stream (scores, dead letters or anomaly events) of two runs. */
export function compareStream(reference: readonly OutputRecord[], run: readonly OutputRecord[]): StreamComparison {
  const ref = firstCopies(reference).first;
  const got = firstCopies(run);
  const missing: string[] = [];
  const differs: string[] = [];
  for (const [id, value] of ref) {
    const mine = got.first.get(id);
    if (mine === undefined) missing.push(id);
    else if (mine !== value) differs.push(id);
  }
  const extra = [...got.first.keys()].filter((id) => !ref.has(id));
  const d = differs[0];
  return {
    ...(d === undefined ? {} : { firstDifference: { id: d, reference: ref.get(d)!, run: got.first.get(d)! } }),
    expected: ref.size,
    distinct: got.first.size,
    missing: missing.length,
    extra: extra.length,
    duplicates: got.duplicates,
    divergentDuplicates: got.divergent.length,
    differs: differs.length,
    examples: {
      missing: missing.slice(0, EXAMPLES),
      extra: extra.slice(0, EXAMPLES),
      divergent: got.divergent.slice(0, EXAMPLES),
      differs: differs.slice(0, EXAMPLES),
    },
  };
}

export interface RunOutputs {
  scores: OutputRecord[];
  dlq: OutputRecord[];
  anomalies: OutputRecord[];
}

export interface OutputComparison {
  /** Scores, plus how many of the windows that differ differ in more than the decision (`anomaly`). */
  scores: StreamComparison & { differsBeyondDecision: number };
  dlq: StreamComparison;
  anomalies: StreamComparison;
  /** Sums over the three streams. */
  missing: number;
  extra: number;
  duplicates: number;
  divergentDuplicates: number;
  differs: number;
}

export function compareOutputs(reference: RunOutputs, run: RunOutputs): OutputComparison {
  const scores = {
    ...compareStream(reference.scores, run.scores),
    differsBeyondDecision: compareStream(reference.scores.map(withoutDecision), run.scores.map(withoutDecision))
      .differs,
  };
  const dlq = compareStream(reference.dlq, run.dlq);
  const anomalies = compareStream(reference.anomalies, run.anomalies);
  const all = [scores, dlq, anomalies];
  const sum = (k: 'missing' | 'extra' | 'duplicates' | 'divergentDuplicates' | 'differs'): number =>
    all.reduce((s, c) => s + c[k], 0);
  return {
    scores,
    dlq,
    anomalies,
    missing: sum('missing'),
    extra: sum('extra'),
    duplicates: sum('duplicates'),
    divergentDuplicates: sum('divergentDuplicates'),
    differs: sum('differs'),
  };
}

/**
 * A score record without its `anomaly` flag: that flag is the hysteresis state's, which carries
 * history, while the rest is a function of the window and the model alone.
 */
function withoutDecision(r: OutputRecord): OutputRecord {
  try {
    const parsed = JSON.parse(r.value) as Record<string, unknown>;
    delete parsed.anomaly;
    return { id: r.id, value: JSON.stringify(parsed) };
  } catch {
    return r;
  }
}

/**
 * Whether a run keeps the promise: nothing missing, nothing that should not exist, every copy
 * identical to the fault-free run's; with exactly-once outputs, no copies at all.
 */
export function keepsPromise(c: OutputComparison, exactlyOnce: boolean): boolean {
  return (
    c.missing === 0 &&
    c.extra === 0 &&
    c.divergentDuplicates === 0 &&
    c.differs === 0 &&
    (!exactlyOnce || c.duplicates === 0)
  );
}

/** The id of an output record: a score's window id, an anomaly event's id and kind, a dead letter's origin. */
export function recordId(stream: keyof RunOutputs, value: string, headers: Readonly<Record<string, string>>): string {
  if (stream === 'dlq') {
    const topic = headers['aemon.source.topic'] ?? '?';
    return `${topic}[${headers['aemon.source.partition'] ?? '?'}]@${headers['aemon.source.offset'] ?? '?'}`;
  }
  try {
    const parsed = JSON.parse(value) as { id?: unknown; kind?: unknown };
    if (typeof parsed.id === 'string')
      return stream === 'anomalies' ? `${parsed.id}/${String(parsed.kind)}` : parsed.id;
  } catch {
    // Not JSON: it is its own id, so it can only match an identical record.
  }
  return `raw:${value}`;
}
