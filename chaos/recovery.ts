// Maximum lag and recovery time from a scenario's lag samples and fault times. Pure.

/** A committed-offset lag sample; `lag` is undefined when the broker could not be asked. */
export interface LagSample {
  t: number;
  lag: number | undefined;
}

/** One injected fault: when it began, and when the faulty part was back (restarted, resumed). */
export interface FaultEvent {
  what: string;
  at: number;
  until: number;
}

export function maxLag(samples: readonly LagSample[]): number {
  return samples.reduce((m, s) => (s.lag !== undefined && s.lag > m ? s.lag : m), 0);
}

/**
 * For each fault, seconds from its start until the first sample at or after the faulty part was
 * back whose lag is at most `caughtUp`; the worst of them. Null when some fault was never
 * recovered from within the samples (the run did not catch up).
 */
export function recoverySeconds(
  samples: readonly LagSample[],
  faults: readonly FaultEvent[],
  caughtUp: number,
): number | null {
  let worst = 0;
  for (const f of faults) {
    const ok = samples.find((s) => s.t >= f.until && s.lag !== undefined && s.lag <= caughtUp);
    if (ok === undefined) return null;
    worst = Math.max(worst, (ok.t - f.at) / 1000);
  }
  return Math.round(worst * 10) / 10;
}
