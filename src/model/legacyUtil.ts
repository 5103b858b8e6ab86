import util from 'node:util';

type Predicate = (value: unknown) => boolean;

/**
 * The `util.is*` type checks Node deprecated (DEP0044 … DEP0058) and removed in Node 23, with the
 * definitions Node 20 had. tfjs-node 4.22 still calls `util.isNullOrUndefined` and
 * `util.isArray` for every op it runs, so on Node 24 its first op throws
 * `(0 , util_1.isNullOrUndefined) is not a function`.
 */
const LEGACY: Readonly<Record<string, Predicate>> = {
  isArray: (v) => Array.isArray(v),
  isBoolean: (v) => typeof v === 'boolean',
  isBuffer: (v) => Buffer.isBuffer(v),
  isDate: (v) => util.types.isDate(v),
  isError: (v) => util.types.isNativeError(v) || v instanceof Error,
  isFunction: (v) => typeof v === 'function',
  isNull: (v) => v === null,
  isNullOrUndefined: (v) => v === null || v === undefined,
  isNumber: (v) => typeof v === 'number',
  isObject: (v) => v !== null && typeof v === 'object',
  isPrimitive: (v) => v === null || (typeof v !== 'object' && typeof v !== 'function'),
  isRegExp: (v) => util.types.isRegExp(v),
  isString: (v) => typeof v === 'string',
  isSymbol: (v) => typeof v === 'symbol',
  isUndefined: (v) => v === undefined,
};

/**
 * Puts back, on Node's `util` module (what `require('util')` returns, so tfjs-node sees them),
 * those legacy type checks this Node no longer has. It only adds what is missing: a function
 * Node still ships (deprecated, on Node 20 and 22) is never replaced, so nothing changes on the
 * Node versions that have them. Returns the names it added (none on Node 20 and 22).
 */
export function restoreLegacyUtil(target: object = util): string[] {
  const added: string[] = [];
  for (const [name, fn] of Object.entries(LEGACY)) {
    if (typeof (target as Record<string, unknown>)[name] === 'function') continue;
    Object.defineProperty(target, name, { value: fn, writable: true, configurable: true, enumerable: true });
    added.push(name);
  }
  return added;
}
