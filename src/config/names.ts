export const ENV_PREFIX = 'AEMON_';

/** `['windowing','reorder','maxDelayMs']` → `AEMON_WINDOWING_REORDER_MAX_DELAY_MS`. */
export function envName(path: readonly string[]): string {
  return ENV_PREFIX + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}
