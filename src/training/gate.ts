import { applyScaler, channelParts } from '../pipeline/calibration.js';
import type { ModelBundle, SensorCalibration } from '../pipeline/model.js';
import type { BufferedWindow } from './buffer.js';

/** How a model does on the gate's windows. */
export interface GateScore {
  /** Fraction of held-out normal windows scored at or above threshold. */
  falseAlarmRate: number;
  /** Fraction of labelled-anomalous windows scored at or above threshold (null: none labelled). */
  anomalyRecall: number | null;
}

export interface GateResult {
  promoted: boolean;
  reason: string;
  champion: GateScore;
  challenger: GateScore;
  normalWindows: number;
  anomalousWindows: number;
}

export interface GateOptions {
  /** The challenger may raise the false-alarm rate by at most this much (absolute). */
  falseAlarmTolerance: number;
  /** …and lower the recall of labelled anomalies by at most this much (absolute). */
  recallTolerance: number;
}

type Windows = ReadonlyArray<BufferedWindow & { sensor: string }>;

function calibrationOf(bundle: ModelBundle, sensor: string): SensorCalibration {
  return bundle.metadata.sensors[sensor] ?? bundle.metadata.fallback;
}

/** Fraction of `windows` each scored by `bundle` at or above its threshold for that sensor. */
async function alarmRate(bundle: ModelBundle, windows: Windows): Promise<number> {
  if (windows.length === 0) return 0;
  const { windowSize, channels } = bundle.metadata.params;
  const stride = windowSize * channels;
  const x = new Float32Array(windows.length * stride);
  windows.forEach((w, i) => applyScaler(w.data, calibrationOf(bundle, w.sensor), x, i * stride));
  const batch = await bundle.model.score(x, windows.length);
  const parts = new Float32Array(channels);
  let alarms = 0;
  windows.forEach((w, i) => {
    const calibration = calibrationOf(bundle, w.sensor);
    if (channelParts(batch, i, channels, calibration.channelErrors, parts) >= calibration.threshold) alarms++;
  });
  return alarms / windows.length;
}

async function gateScore(bundle: ModelBundle, normal: Windows, anomalous: Windows): Promise<GateScore> {
  return {
    falseAlarmRate: await alarmRate(bundle, normal),
    anomalyRecall: anomalous.length > 0 ? await alarmRate(bundle, anomalous) : null,
  };
}

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;

/**
 * The promotion gate: champion and challenger, each with its own per-sensor thresholds, score
 * normal windows neither trained nor calibrated on, and the windows operators labelled
 * anomalous. The challenger is promoted only if its false-alarm rate is not worse than the
 * champion's and it finds the labelled anomalies at least as well (within the tolerances).
 */
export async function runGate(
  champion: ModelBundle,
  challenger: ModelBundle,
  normal: Windows,
  anomalous: Windows,
  opts: GateOptions,
): Promise<GateResult> {
  const c = await gateScore(champion, normal, anomalous);
  const n = await gateScore(challenger, normal, anomalous);
  const base = { champion: c, challenger: n, normalWindows: normal.length, anomalousWindows: anomalous.length };
  if (normal.length === 0) return { ...base, promoted: false, reason: 'no held-out normal windows to compare on' };
  if (n.falseAlarmRate > c.falseAlarmRate + opts.falseAlarmTolerance) {
    return {
      ...base,
      promoted: false,
      reason: `more false alarms on held-out normal windows: ${pct(n.falseAlarmRate)} vs ${pct(c.falseAlarmRate)}`,
    };
  }
  if (
    n.anomalyRecall !== null &&
    c.anomalyRecall !== null &&
    n.anomalyRecall < c.anomalyRecall - opts.recallTolerance
  ) {
    return {
      ...base,
      promoted: false,
      reason: `finds fewer labelled anomalies: ${pct(n.anomalyRecall)} vs ${pct(c.anomalyRecall)}`,
    };
  }
  const recall =
    n.anomalyRecall === null
      ? 'no labelled anomalies'
      : `labelled anomalies found ${pct(n.anomalyRecall)} vs ${pct(c.anomalyRecall!)}`;
  return {
    ...base,
    promoted: true,
    reason: `false alarms ${pct(n.falseAlarmRate)} vs ${pct(c.falseAlarmRate)}; ${recall}`,
  };
}
