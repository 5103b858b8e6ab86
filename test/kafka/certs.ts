import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** PEM files made with openssl for a TLS test: a CA, a broker certificate, a client certificate, and an unrelated CA. */
export interface TestCerts {
  dir: string;
  ca: string;
  /** The broker's key (PKCS#8) and certificate in one PEM file: Kafka's `ssl.keystore.type=PEM`. */
  brokerKeystore: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing here: trusting only it, a client must refuse the broker. */
  otherCa: string;
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`openssl could not run (${r.error.message}): run npm run test:setup`);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
}

/** Makes the certificates in `dir` (RSA 2048, valid for two days, the broker's for 127.0.0.1 and localhost). */
export function makeCerts(dir: string): TestCerts {
  const ca = (name: string): void =>
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        '-subj',
        `/CN=aemon test ${name}`,
      ],
      dir,
    );
  ca('ca');
  ca('other-ca');
  const leaf = (name: string, subject: string, ext: string): void => {
    openssl(
      ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject],
      dir,
    );
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
      ],
      dir,
    );
  };
  leaf('broker', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  leaf('client', '/CN=aemon-client', 'extendedKeyUsage=clientAuth\n');
  // openssl 3 writes PKCS#8 keys (-----BEGIN PRIVATE KEY-----), the form Kafka's PEM key store reads.
  const keystore = join(dir, 'broker.pem');
  writeFileSync(
    keystore,
    readFileSync(join(dir, 'broker.key'), 'utf8') + readFileSync(join(dir, 'broker.crt'), 'utf8'),
  );
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    brokerKeystore: keystore,
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
    otherCa: join(dir, 'other-ca.crt'),
  };
}

/** Lines of a PEM key's base64 body: none may ever appear in a log. */
export function keyMaterial(pemFile: string): string[] {
  return readFileSync(pemFile, 'utf8')
    .split('\n')
    .filter((l) => l.length > 20 && !l.startsWith('-----'));
}
