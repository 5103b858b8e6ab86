import type { WindowScore } from '../pipeline/contracts.js';
import { type Decision, type DecisionPolicy, windowDecision } from './policy.js';

/**
 * The plain decision: a window is above when its error passes its sensor's calibrated threshold
 * (the held-out normal windows' `quantile` × `margin`), i.e. its score error ÷ threshold > 1.
 */
export class ThresholdPolicy implements DecisionPolicy {
  readonly name = 'threshold' as const;

  decide(ws: WindowScore): Decision {
    return windowDecision(ws);
  }
}
