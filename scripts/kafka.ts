// `npm run kafka:start`: the tests' Apache Kafka broker (test/kafka/broker.ts) for trying aemon by
// hand. KAFKA_PORT fixes the PLAINTEXT port (e.g. 9092), KAFKA_SASL_PORT the SCRAM listener's.
// Runs until Ctrl-C; its data lives in a temp dir that is removed on exit.
import { launchBroker, SCRAM_USER } from '../test/kafka/broker.js';

function port(name: string): number | undefined {
  const raw = process.env[name];
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 65_535) {
    console.error(`${name} must be a port number, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const started = Date.now();
const broker = await launchBroker({ sasl: true, port: port('KAFKA_PORT'), saslPort: port('KAFKA_SASL_PORT') }).catch(
  (err: unknown) => {
    console.error((err as Error).message);
    process.exit(1);
  },
);
const [plain] = broker.brokers;
const [sasl] = broker.saslBrokers ?? [];
console.log(`Kafka 4.1.1 broker ready in ${((Date.now() - started) / 1000).toFixed(1)} s
  bootstrap:  ${plain}
  SASL/SCRAM: ${sasl} (SCRAM-SHA-256, user ${SCRAM_USER.username}, password ${SCRAM_USER.password})
  log:        ${broker.logFile}
Try:  AEMON_KAFKA_BROKERS=${plain} npx aemon simulate --kafka-topic demo.sensors
Ctrl-C stops it.`);

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  console.log('\nstopping the broker…');
  broker.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error((err as Error).message);
      process.exit(1);
    },
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
// The broker's process is unref'd by the harness: this keeps the script alive until a signal.
setInterval(() => {}, 1 << 30);
