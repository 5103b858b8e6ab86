// One memory row in a process of its own (bench/memory.ts benchMemoryFresh), printed as one JSON line.
// Usage: tsx bench/memory-row.ts SENSORS READINGS_PER_SENSOR
import { benchMemory } from './memory.js';

const [sensors, readings] = [Number(process.argv[2]), Number(process.argv[3])];
if (!(sensors > 0) || !(readings > 0)) {
  process.stderr.write('usage: bench/memory-row.ts SENSORS READINGS_PER_SENSOR\n');
  process.exit(2);
}
process.stdout.write(JSON.stringify(await benchMemory(sensors, readings)) + '\n');
process.exit(0);
