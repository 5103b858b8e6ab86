import { asyncScheduler, pipe } from 'rxjs';
import type { OperatorFunction, SchedulerLike } from 'rxjs';
import type { WindowingConfig } from '../config/schema.js';
import type { Reading, Rejection, WindowOutput } from '../pipeline/contracts.js';
import type { OwnershipView } from '../pipeline/ownership.js';
import { reorder } from './reorder.js';
import { slidingWindows } from './sliding.js';

/**
 * The windowing stage: per-sensor reordering in event time, then count-based sliding windows.
 * Rejections from upstream pass through both in arrival order; reorder adds its own
 * (`duplicate`, `too_late`). `scheduler` drives reorder's processing-time release. With
 * `ownership`, a sensor read under a partition assignment that ended starts afresh in both.
 */
export function windowReadings(
  cfg: WindowingConfig,
  scheduler: SchedulerLike = asyncScheduler,
  ownership?: OwnershipView,
): OperatorFunction<Reading | Rejection, WindowOutput> {
  return pipe(reorder(cfg.reorder, scheduler, ownership), slidingWindows(cfg, ownership));
}
