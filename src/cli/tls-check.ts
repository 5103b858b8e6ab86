import { connect, type ConnectionOptions } from 'node:tls';
import { isIP } from 'node:net';
import { kafkaClientOptions } from '../config/kafka.js';
import type { KafkaConfig } from '../config/schema.js';
import { AemonError } from '../errors.js';

/** Node's certificate verification failures: the broker's certificate is not trusted as configured. */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const HANDSHAKE_TIMEOUT_MS = 5_000;
/** TLS 1.3 clients finish their side before the server has checked the client certificate; its refusal comes as an alert right after. */
const ALERT_WAIT_MS = 300;

/**
 * One TLS handshake with each broker before kafkajs connects, so an untrusted broker certificate
 * (a wrong `kafka.tls.ca`) or a refused client certificate is one clear start-up error at once,
 * not a minute of kafkajs retrying. A broker that cannot be reached at all is left to kafkajs
 * (it may come up later). Neither the certificates nor the key are ever put in the message.
 */
export async function checkTls(cfg: KafkaConfig): Promise<void> {
  if (!cfg.tls.enabled) return;
  const ssl = kafkaClientOptions(cfg).ssl;
  const options: ConnectionOptions = typeof ssl === 'object' ? { ...ssl } : {};
  await Promise.all(cfg.brokers.map((b) => handshake(b, options)));
}

function handshake(broker: string, options: ConnectionOptions): Promise<void> {
  const at = broker.lastIndexOf(':');
  const host = broker.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(broker.slice(at + 1));
  return new Promise<void>((resolve, reject) => {
    const socket = connect({ ...options, host, port, ...(isIP(host) ? {} : { servername: host }) });
    let timer: NodeJS.Timeout | undefined;
    const done = (err?: AemonError): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    timer = setTimeout(() => done(), HANDSHAKE_TIMEOUT_MS);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      timer = setTimeout(() => done(), ALERT_WAIT_MS);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? '';
      if (UNTRUSTED.has(code)) {
        done(
          new AemonError(
            'AEMON_KAFKA',
            `TLS: the certificate of broker ${broker} is not trusted (${err.message}, ${code}): check kafka.tls.ca (AEMON_KAFKA_TLS_CA) names the CA that signed it`,
            { stage: 'startup', cause: err },
          ),
        );
      } else if (/^ERR_SSL_.*ALERT/.test(code)) {
        // OpenSSL's text: "…:ssl3_read_bytes:sslv3 alert bad certificate:…:SSL alert number 42".
        const alert = /alert ([a-z ]+?)(?::|$)/i.exec(err.message)?.[1] ?? code;
        done(
          new AemonError(
            'AEMON_KAFKA',
            `TLS: broker ${broker} refused the connection (TLS alert: ${alert}): check kafka.tls.cert and kafka.tls.key (a client certificate signed by a CA the broker trusts)`,
            { stage: 'startup', cause: err },
          ),
        );
      } else {
        done();
      }
    });
  });
}
