// `npm run chaos -- [--quick] [--soak 60m] [--json FILE] [--exactly-once] [--only a,b]`. Pure.

export const SCENARIOS = ['control', 'broker-kill', 'aemon-kill', 'group-churn', 'stall'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface ChaosOptions {
  quick: boolean;
  /** Wall time each fault scenario feeds and injects faults for. */
  scenarioMs: number;
  /** Soak length; 0 = no soak. */
  soakMs: number;
  /** Interval between soak samples. */
  soakSampleMs: number;
  soakSensors: number;
  json: string | undefined;
  /** Every aemon (under faults and fault-free) runs with kafka.exactlyOnce on; no duplicate is then allowed. */
  exactlyOnce: boolean;
  scenarios: ScenarioName[];
  /** Sensors and rate of the fault scenarios' feed. */
  sensors: number;
  rateHz: number;
  seed: number;
  sessionTimeoutMs: number;
}

export const USAGE = `npm run chaos -- [options]
  --quick            every fault scenario shortened (60 s each, the control 30 s) and a 90 s soak: under 10 minutes
  --soak <time>      soak length, e.g. 60m (default 5m, 90s with --quick; 0 = none)
  --duration <time>  feed and faults per scenario (default 5m, 60s with --quick; the control runs half as long)
  --sensors <n>      soak sensors at 1 Hz (default 10000)
  --only <list>      scenarios to run, comma-separated: ${SCENARIOS.join(', ')}, or none
  --exactly-once     run every aemon with AEMON_KAFKA_EXACTLY_ONCE=true; then no duplicate may appear
  --json <file>      write {"scenarios": [...], "soak": {...}} there
  --seed <n>         simulator and fault-schedule seed (default 7)
`;

/** A duration like 90s, 5m, 1h (or plain milliseconds). */
export function parseTime(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${JSON.stringify(text)} (use e.g. 90s, 5m, 1h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 'ms'] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

export function parseOptions(argv: readonly string[]): ChaosOptions {
  const args = [...argv];
  const value = (flag: string): string => {
    const v = args.shift();
    if (v === undefined || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    return v;
  };
  const o: ChaosOptions = {
    quick: false,
    scenarioMs: 5 * 60_000,
    soakMs: -1,
    soakSampleMs: 60_000,
    soakSensors: 10_000,
    json: undefined,
    exactlyOnce: false,
    scenarios: [...SCENARIOS],
    sensors: 20,
    rateHz: 10,
    seed: 7,
    sessionTimeoutMs: 10_000,
  };
  let scenarioMs: number | undefined;
  while (args.length > 0) {
    const a = args.shift()!;
    if (a === '--quick') o.quick = true;
    else if (a === '--soak') o.soakMs = parseTime(value(a));
    else if (a === '--json') o.json = value(a);
    else if (a === '--duration') scenarioMs = parseTime(value(a));
    else if (a === '--exactly-once') o.exactlyOnce = true;
    else if (a === '--sensors') o.soakSensors = positive(value(a), a);
    else if (a === '--seed') o.seed = positive(value(a), a);
    else if (a === '--only') {
      const list = value(a);
      o.scenarios = list === 'none' ? [] : list.split(',').map((s) => scenario(s.trim()));
    } else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  o.scenarioMs = scenarioMs ?? (o.quick ? 60_000 : 5 * 60_000);
  if (o.soakMs < 0) o.soakMs = o.quick ? 90_000 : 5 * 60_000;
  // A minute apart in a real soak; a shorter soak still gets enough points for a slope.
  o.soakSampleMs = Math.min(60_000, Math.max(10_000, Math.floor(o.soakMs / 8)));
  return o;
}

function positive(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0)
    throw new Error(`${flag} must be a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

function scenario(name: string): ScenarioName {
  const found = SCENARIOS.find((s) => s === name);
  if (!found) throw new Error(`unknown scenario ${JSON.stringify(name)} (one of ${SCENARIOS.join(', ')})`);
  return found;
}
