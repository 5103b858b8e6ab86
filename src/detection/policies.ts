import type { DecisionName, DetectionConfig } from '../config/schema.js';
import { DynamicPolicy } from './dynamic.js';
import { LikelihoodPolicy } from './likelihood.js';
import { PotPolicy } from './pot.js';
import type { DecisionPolicy } from './policy.js';
import { ThresholdPolicy } from './threshold.js';

/**
 * One factory per `detection.decision`. A new policy is its own file implementing
 * {@link DecisionPolicy} and its line here (the compiler asks for it once the name is in the
 * schema's list).
 */
const POLICIES: Record<DecisionName, (cfg: DetectionConfig) => DecisionPolicy> = {
  threshold: () => new ThresholdPolicy(),
  dynamic: (cfg) => new DynamicPolicy(cfg.dynamic),
  pot: (cfg) => new PotPolicy(cfg.pot),
  likelihood: (cfg) => new LikelihoodPolicy(cfg.likelihood, cfg.closeBelow),
};

/** The decision policy `detection.decision` names. */
export function createPolicy(cfg: DetectionConfig): DecisionPolicy {
  return POLICIES[cfg.decision](cfg);
}
