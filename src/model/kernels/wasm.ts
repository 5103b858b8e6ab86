import { LSTM_WASM_BASE64 } from '../lstmWasm.js';

/*
 * The `simd` kernel's WebAssembly module (src/model/lstm.c and lstmGrad.c): compiled once per
 * process, instantiated by the scoring kernel (one shared instance) and by each training run.
 */

// The parts of the WebAssembly API used here (lib ES2022 and @types/node do not declare it).
interface WasmModule {
  readonly kind?: 'WebAssembly.Module';
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule) => { exports: unknown };
}
const WASM = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** The module's exports; pointers are byte offsets into `memory`. */
export interface LstmExports {
  memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  __heap_base: { readonly value: number };
  project(input: number, rows: number, inDim: number, w: number, bias: number, out: number, outDim: number): void;
  lstm(
    xp: number,
    seqStride: number,
    stepStride: number,
    input: number,
    inDim: number,
    kernel: number,
    recurrent: number,
    units: number,
    batch: number,
    steps: number,
    out: number,
    allSteps: number,
    scratch: number,
  ): void;
  /** The floats of scratch `lstm` needs for that many units. */
  lstm_scratch(units: number): number;
  lstm_train(
    xp: number,
    seqStride: number,
    stepStride: number,
    recurrent: number,
    units: number,
    batch: number,
    steps: number,
    gates: number,
    cs: number,
    tcs: number,
    hs: number,
  ): void;
  lstm_backward(
    dh: number,
    dhAllSteps: number,
    gates: number,
    cs: number,
    tcs: number,
    recurrentT: number,
    units: number,
    batch: number,
    steps: number,
    dz: number,
    scratch: number,
  ): void;
  grad_at_b(
    a: number,
    rows: number,
    aDim: number,
    aStride: number,
    b: number,
    bDim: number,
    bStride: number,
    out: number,
  ): void;
  recurrent_grad(hs: number, dz: number, units: number, batch: number, steps: number, out: number): void;
  sum_steps(a: number, batch: number, steps: number, dim: number, out: number): void;
  a_bt(a: number, rows: number, n: number, wT: number, m: number, out: number): void;
  transpose(input: number, rows: number, cols: number, out: number): void;
}

let compiled: WasmModule | null | undefined;

/** The compiled module, or null where this runtime has no WebAssembly SIMD. */
function lstmModule(): WasmModule | null {
  if (compiled === undefined) {
    const bytes = Buffer.from(LSTM_WASM_BASE64, 'base64');
    compiled = WASM !== undefined && WASM.validate(bytes) ? new WASM.Module(bytes) : null;
  }
  return compiled;
}

/** Why the simd kernel cannot run here, or undefined when it can. */
export function simdUnavailable(): string | undefined {
  return lstmModule() === null ? 'this runtime has no WebAssembly SIMD' : undefined;
}

/** A fresh instance with its own memory. */
export function newInstance(): LstmExports {
  const module = lstmModule();
  if (module === null) throw new Error(simdUnavailable());
  return new WASM!.Instance(module).exports as LstmExports;
}

export const align = (bytes: number): number => Math.ceil(bytes / 16) * 16;

/** Grows the instance's memory to at least `bytes`. */
export function ensure(wasm: LstmExports, bytes: number): void {
  const missing = bytes - wasm.memory.buffer.byteLength;
  if (missing > 0) wasm.memory.grow(Math.ceil(missing / 65536));
}
