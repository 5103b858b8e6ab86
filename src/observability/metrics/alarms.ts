import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { SUPPRESS_REASONS } from '../../pipeline/contracts.js';
import type { SuppressReason } from '../../pipeline/contracts.js';

export const FEEDBACK_VERDICTS = ['false_alarm', 'confirmed'] as const;
/** An operator's mark on an anomaly event. */
export type FeedbackVerdict = (typeof FEEDBACK_VERDICTS)[number];

/** What operators do about alarms: suppressed windows, verdicts on events, where the live view is. */
export interface AlarmMetrics {
  /** `aemon_suppressed_windows_total{reason}`: windows neither alarmed on nor learnt from. */
  suppressedWindows(reason: SuppressReason, n?: number): void;
  /** `aemon_feedback_total{verdict}`: operators' marks on anomaly events. */
  feedback(verdict: FeedbackVerdict): void;
  /** `aemon_view_info{url}` = 1: the live view's external URL, for links in alerts. */
  viewInfo(url: string): void;
}

export function alarmMetrics(registers: Registry[]): AlarmMetrics {
  const suppressedTotal = new Counter({
    name: 'aemon_suppressed_windows_total',
    help: 'Windows suppressed (no anomaly opened, not learnt from), by why: calendar, maintenance, condition, grace.',
    labelNames: ['reason'] as const,
    registers,
  });
  const feedbackTotal = new Counter({
    name: 'aemon_feedback_total',
    help: "Operators' marks on anomaly events, by verdict (false_alarm, confirmed).",
    labelNames: ['verdict'] as const,
    registers,
  });
  const viewInfoGauge = new Gauge({
    name: 'aemon_view_info',
    help: "The live view's external URL (view.externalUrl), for links in alert annotations; always 1.",
    labelNames: ['url'] as const,
    registers,
  });

  // Zero series up front, so rate() and increase() see the first event of each kind.
  for (const reason of SUPPRESS_REASONS) suppressedTotal.inc({ reason }, 0);
  for (const verdict of FEEDBACK_VERDICTS) feedbackTotal.inc({ verdict }, 0);

  return {
    suppressedWindows(reason, n = 1) {
      suppressedTotal.inc({ reason }, n);
    },
    feedback(verdict) {
      feedbackTotal.inc({ verdict });
    },
    viewInfo(url) {
      viewInfoGauge.reset();
      viewInfoGauge.set({ url }, 1);
    },
  };
}
