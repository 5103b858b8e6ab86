// One pipeline row in a process of its own (bench/pipeline.ts benchPipelineFresh): an untimed
// pass of a quarter of the readings, then the measured one, printed as one JSON line.
// Usage: tsx bench/pipeline-row.ts SENSORS READINGS_PER_SENSOR lstm|none
import { benchPipeline, type BenchScorer } from './pipeline.js';

const [sensors, readings, scorer] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] as BenchScorer];
if (!(sensors > 0) || !(readings > 0) || (scorer !== 'lstm' && scorer !== 'none')) {
  process.stderr.write('usage: bench/pipeline-row.ts SENSORS READINGS_PER_SENSOR lstm|none\n');
  process.exit(2);
}
await benchPipeline(sensors, Math.max(16, Math.round(readings / 4)), scorer);
process.stdout.write(JSON.stringify(await benchPipeline(sensors, readings, scorer)) + '\n');
process.exit(0);
