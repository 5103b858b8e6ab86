import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  optimiseThreshold,
  probationaryLength,
  scaledSigmoid,
  scoreProfile,
  type CostMatrix,
  type NabFile,
} from '../../src/evaluation/nab.js';

const STANDARD: CostMatrix = { tpWeight: 1, fpWeight: 0.11, fnWeight: 1 };
const LOW_FP: CostMatrix = { tpWeight: 1, fpWeight: 0.22, fnWeight: 1 };
const LOW_FN: CostMatrix = { tpWeight: 1, fpWeight: 0.11, fnWeight: 2 };

// 100 records: probation = ⌊15 %⌋ = 15 records; one window over records 40..49 (width 10).
const N = 100;
const WINDOW: [number, number] = [40, 49];

/** A detector that fires (score 1) at these records and is 0 elsewhere. */
function firing(at: number[], windows: Array<[number, number]> = [WINDOW], name = 'f.csv'): NabFile {
  const scores = new Array<number>(N).fill(0);
  for (const i of at) scores[i] = 1;
  return { name, scores, windows };
}

const close = (actual: number, expected: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} ≠ ${expected}`);

// NAB's scaled sigmoid 2/(1+e^{5y}) − 1 is tanh(−5y/2): the hand computations below use tanh.
const maxTP = Math.tanh(2.5);

test('scaled sigmoid: 0.98661 at a window start, 0 at its right edge, −1 far past it', () => {
  close(scaledSigmoid(-1), 0.9866142981514303, 'start');
  close(scaledSigmoid(-0.5), Math.tanh(1.25), 'halfway');
  close(scaledSigmoid(0), 0, 'right edge');
  close(scaledSigmoid(1), -0.9866142981514303, 'one width past');
  assert.equal(scaledSigmoid(3.01), -1);
});

test('probationary period: 15 % of the file, at most 750 records', () => {
  assert.equal(probationaryLength(100), 15);
  assert.equal(probationaryLength(4032), 604);
  assert.equal(probationaryLength(15_902), 750);
});

test('the perfect detector scores 100 and the null detector 0, in every profile', () => {
  for (const cost of [STANDARD, LOW_FP, LOW_FN]) {
    const perfect = scoreProfile([firing([40])], cost);
    close(perfect.raw, 1, 'perfect raw = tpWeight × windows');
    close(perfect.perfect, 1, 'perfect');
    // Null detector: never firing (−fnWeight) beats firing everywhere (25 FPs before the window alone cost 2.75).
    close(perfect.nullRaw, -cost.fnWeight, 'null raw');
    close(perfect.score, 100, 'perfect score');
    const none = scoreProfile([firing([])], cost);
    close(none.score, 0, 'a detector that never fires');
    const constant = scoreProfile([{ name: 'c.csv', scores: new Array<number>(N).fill(0.5), windows: [WINDOW] }], cost);
    close(constant.score, 0, 'the null detector itself');
  }
});

test('one false positive costs exactly the profile’s fpWeight (before any window: sweep score −1)', () => {
  const standard = scoreProfile([firing([20, 40])], STANDARD);
  close(standard.raw, 1 - 0.11, 'standard raw');
  close(standard.score, (100 * (0.89 + 1)) / 2, 'standard score 94.5');
  close(scoreProfile([firing([20, 40])], LOW_FP).score, (100 * (0.78 + 1)) / 2, 'reward_low_FP_rate 89.0');
  close(scoreProfile([firing([20, 40])], LOW_FN).score, (100 * (0.89 + 2)) / 3, 'reward_low_FN_rate 96.33');
});

test('a false positive after a window costs fpWeight × the sigmoid of its distance past the window', () => {
  // Record 58 is 9 records past the window end (49); the window is 10 wide: relative position 9/9 = 1.
  close(scoreProfile([firing([40, 58])], STANDARD).raw, 1 + 0.11 * Math.tanh(-2.5), 'one width past');
  // Record 50 is right behind it: position 1/9, a smaller penalty.
  close(scoreProfile([firing([40, 50])], STANDARD).raw, 1 + 0.11 * Math.tanh(-5 / 18), 'just past');
});

test('the earliest detection in a window beats a late one; further detections in it add nothing', () => {
  const early = scoreProfile([firing([40])], STANDARD);
  const late = scoreProfile([firing([49])], STANDARD);
  // Record 49 is the window's last: position −1/10 → tanh(0.25), scaled so the start is worth 1.
  close(late.raw, Math.tanh(0.25) / maxTP, 'late raw 0.2482');
  close(late.score, (100 * (Math.tanh(0.25) / maxTP + 1)) / 2, 'late score 62.4');
  assert.ok(early.score > late.score);
  close(scoreProfile([firing([40, 45, 49])], STANDARD).raw, 1, 'three detections in one window');
  close(scoreProfile([firing([45])], STANDARD).raw, Math.tanh(1.25) / maxTP, 'halfway: position −5/10');
});

test('detections in the probationary period are not scored', () => {
  close(scoreProfile([firing([5, 40])], STANDARD).raw, 1, 'record 5 is probationary');
  close(scoreProfile([firing([15, 40])], STANDARD).raw, 0.89, 'record 15 is the first scored one');
});

test('one threshold is optimised over the whole corpus, and the files add up to it', () => {
  // A: its window start at 0.8. B: a false positive at 0.9 and its window start at 0.7.
  const a: NabFile = { name: 'a.csv', scores: new Array<number>(N).fill(0), windows: [WINDOW] };
  const b: NabFile = { name: 'b.csv', scores: new Array<number>(N).fill(0), windows: [WINDOW] };
  (a.scores as number[])[40] = 0.8;
  (b.scores as number[])[20] = 0.9;
  (b.scores as number[])[40] = 0.7;
  // never: −2; ≥ 0.9: −2.11; ≥ 0.8: −0.11; ≥ 0.7: 1.89; ≥ 0: every record fires (worse).
  const best = optimiseThreshold([a, b], STANDARD);
  assert.equal(best.threshold, 0.7);
  close(best.raw, 1.89, 'corpus raw');
  const result = scoreProfile([a, b], STANDARD);
  close(result.perFile[0]!.score, 1, 'file a');
  close(result.perFile[1]!.score, 0.89, 'file b');
  assert.deepEqual(
    result.perFile.map((f) => [f.windows, f.detectedWindows, f.fp, f.tp]),
    [
      [1, 1, 0, 1],
      [1, 1, 1, 1],
    ],
  );
  close(result.score, (100 * (1.89 + 2)) / 4, 'normalised 97.25');
});

test('scores outside [0, 1] are refused', () => {
  assert.throws(() => scoreProfile([{ name: 'x.csv', scores: [0, 1.5], windows: [] }], STANDARD), /outside \[0, 1\]/);
});
