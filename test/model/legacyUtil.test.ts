import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import util from 'node:util';
import { restoreLegacyUtil } from '../../src/model/legacyUtil.js';

const NAMES = [
  'isArray',
  'isBoolean',
  'isBuffer',
  'isDate',
  'isError',
  'isFunction',
  'isNull',
  'isNullOrUndefined',
  'isNumber',
  'isObject',
  'isPrimitive',
  'isRegExp',
  'isString',
  'isSymbol',
  'isUndefined',
];

type Checks = Record<string, (v: unknown) => boolean>;

test('only what is missing is added: a function already there is kept as it is', () => {
  const own = (): boolean => true;
  const target: Record<string, unknown> = { isArray: own, isNull: 'not a function' };
  const added = restoreLegacyUtil(target);
  assert.deepEqual(added.sort(), NAMES.filter((n) => n !== 'isArray').sort());
  assert.equal(target.isArray, own, 'never replaced');
  assert.equal(typeof target.isNull, 'function', 'a non-function in its place is not a function tfjs-node could call');
  assert.deepEqual(restoreLegacyUtil(target), [], 'a second call adds nothing');
});

test("the added checks answer as Node 20's util did", () => {
  const checks = {} as Checks;
  restoreLegacyUtil(checks);
  const values: unknown[] = [
    null,
    undefined,
    0,
    Number.NaN,
    '',
    'x',
    true,
    Symbol('s'),
    [],
    {},
    () => 1,
    new Date(0),
    /r/,
    new Error('e'),
    new TypeError('t'),
    Buffer.from('b'),
    new Uint8Array(1),
  ];
  const expected: Checks = {
    isArray: (v) => Array.isArray(v),
    isBoolean: (v) => v === true || v === false,
    isBuffer: (v) => v instanceof Buffer,
    isDate: (v) => v instanceof Date,
    isError: (v) => v instanceof Error,
    isFunction: (v) => v instanceof Function,
    isNull: (v) => v === null,
    isNullOrUndefined: (v) => v == null,
    isNumber: (v) => Object.prototype.toString.call(v) === '[object Number]' && typeof v !== 'object',
    isObject: (v) => v instanceof Object && !(v instanceof Function),
    isPrimitive: (v) => Object(v) !== v,
    isRegExp: (v) => v instanceof RegExp,
    isString: (v) => Object.prototype.toString.call(v) === '[object String]' && typeof v !== 'object',
    isSymbol: (v) => Object.prototype.toString.call(v) === '[object Symbol]' && typeof v !== 'object',
    isUndefined: (v) => v === void 0,
  };
  for (const name of NAMES) {
    for (const v of values) assert.equal(checks[name]!(v), expected[name]!(v), `${name}(${String(v)})`);
  }
});

test("on this Node, util (as require('util') returns it) has every check afterwards, and Node's own are untouched", () => {
  const before = new Map(NAMES.map((n) => [n, (util as unknown as Checks)[n]]));
  const added = restoreLegacyUtil();
  const required = createRequire(import.meta.url)('util') as Checks;
  for (const name of NAMES) {
    assert.equal(typeof required[name], 'function', name);
    if (typeof before.get(name) === 'function') assert.equal(required[name], before.get(name), `${name} is Node's own`);
  }
  // Node 23 removed all but isArray; 20 and 22 still have them (deprecated).
  const major = Number(process.versions.node.split('.')[0]);
  assert.deepEqual(added.sort(), major >= 23 ? NAMES.filter((n) => n !== 'isArray').sort() : []);
  assert.equal(required.isNullOrUndefined!(null), true);
  assert.equal(required.isNullOrUndefined!(0), false);
});
