// `npm run bench`: `aemon bench` with the Kafka row. Uses KAFKA_BROKERS when set; otherwise starts
// the tests' Apache Kafka broker (test/kafka/broker.ts; jars from `npm run test:setup`) for
// the run and stops it after. Without the jars, the bench runs without the Kafka row and says so.
// Arguments are passed on: `npm run bench -- --quick --json bench.json`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBroker, type Broker } from '../test/kafka/broker.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
let broker: Broker | undefined;
let brokers = process.env.KAFKA_BROKERS;
if (!brokers && existsSync(join(ROOT, '.kafka/libs'))) {
  process.stderr.write('starting a Kafka broker for the Kafka row…\n');
  broker = await launchBroker();
  brokers = broker.brokers.join(',');
}
const code = await new Promise<number>((done) => {
  const child = spawn(process.execPath, [join(ROOT, 'dist/cli/index.js'), 'bench', ...args, ...(brokers ? ['--kafka-brokers', brokers] : [])], { stdio: 'inherit' });
  child.on('close', (c) => done(c ?? 1));
});
await broker?.stop();
process.exit(code);
