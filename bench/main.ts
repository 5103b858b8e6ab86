// `npm run bench`: bench/run.ts with the Kafka row. Uses KAFKA_BROKERS when set; otherwise starts
// the tests' Apache Kafka broker (test/kafka/broker.ts; jars from `npm run test:setup`) for
// the run and stops it after. Without the jars, the bench runs without the Kafka row and says so.
// Arguments are passed on: `npm run bench -- --quick --json bench.json`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { launchBroker, type Broker } from '../test/kafka/broker.js';
import { ROOT } from './keras.js';

const args = process.argv.slice(2);
const help = args.includes('--help') || args.includes('-h');
let broker: Broker | undefined;
let brokers = process.env.KAFKA_BROKERS;
// `--only` without kafka needs no broker.
const onlyAt = args.findIndex((a) => a === '--only' || a.startsWith('--only='));
const only = onlyAt < 0 ? undefined : args[onlyAt]!.includes('=') ? args[onlyAt]!.split('=')[1] : args[onlyAt + 1];
const wantsKafka = only === undefined || only.split(',').some((p) => p.trim() === 'kafka');
if (!help && wantsKafka && !args.includes('--kafka-brokers') && !brokers && existsSync(join(ROOT, '.kafka/libs'))) {
  process.stderr.write('starting a Kafka broker for the Kafka row…\n');
  broker = await launchBroker();
  brokers = broker.brokers.join(',');
}
// The bench runs in its own process, as before, so the broker's client side is not in its figures;
// process.execArgv carries tsx's loader to it.
const passBrokers = brokers && !args.includes('--kafka-brokers') ? ['--kafka-brokers', brokers] : [];
const code = await new Promise<number>((done) => {
  const child = spawn(process.execPath, [...process.execArgv, join(ROOT, 'bench/run.ts'), ...args, ...passBrokers], {
    stdio: 'inherit',
  });
  child.on('close', (c) => done(c ?? 1));
});
await broker?.stop();
process.exit(code);
