import { envName } from './names.js';

function section(raw: unknown, key: string): Record<string, unknown> | undefined {
  const v = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)[key] : undefined;
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

const DECISION_ENV = envName(['detection', 'decision']);

/** What each `detection.<layer>.enabled` value meant, as a `detection.decision`. */
function replacement(layer: 'dynamic' | 'pot' | 'likelihood', enabled: unknown): string {
  const use = (decision: string) => `use detection.decision: ${decision} (${DECISION_ENV}=${decision})`;
  if (layer === 'dynamic') return enabled === false ? use('threshold') : `${use('dynamic')}, the default`;
  return enabled === false ? `drop it (${layer} decides only with detection.decision: ${layer})` : use(layer);
}

/**
 * The deprecated keys a raw (merged, not yet validated) config uses, as one warning line each
 * naming the key that replaces it: the `detection.<layer>.enabled` flags, which
 * `detection.decision` replaced (they still load, meaning what they meant).
 */
export function deprecations(raw: unknown, origin: string): string[] {
  const detection = section(raw, 'detection');
  if (detection === undefined) return [];
  const chosen = detection['decision'] !== undefined;
  const out: string[] = [];
  for (const layer of ['dynamic', 'pot', 'likelihood'] as const) {
    const enabled = section(detection, layer)?.['enabled'];
    if (enabled === undefined) continue;
    const key = `detection.${layer}.enabled`;
    const instead = chosen ? `it is ignored, detection.decision (${DECISION_ENV}) is set` : replacement(layer, enabled);
    out.push(`${origin}: ${key} (${envName(['detection', layer, 'enabled'])}) is deprecated: ${instead}`);
  }
  return out;
}
