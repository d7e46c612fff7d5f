import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestTls {
  /** The test CA's certificate (PEM). */
  caCert: string;
  /** A server certificate for 127.0.0.1 and localhost, signed by the CA, and its key. */
  cert: string;
  key: string;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'pipe', timeout: 60000 });
}

/** Makes a one-day test CA and a server certificate for 127.0.0.1/localhost in `dir`. */
export function makeTestTls(dir: string): TestTls {
  const tls = { caCert: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
  const caKey = join(dir, 'ca.key');
  const csr = join(dir, 'server.csr');
  const ext = join(dir, 'server.ext');
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', tls.caCert, '-days', '1',
    '-subj', '/CN=tailor-image test CA', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', tls.key, '-out', csr, '-subj', '/CN=127.0.0.1']);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', csr, '-CA', tls.caCert, '-CAkey', caKey, '-CAcreateserial', '-out', tls.cert,
    '-days', '1', '-extfile', ext]);
  return tls;
}

const LOCAL_CA_DIR = '/usr/local/share/ca-certificates';

/** Makes the host trust a CA (the Debian way); returns the function that takes it back. */
export function trustCaOnHost(caCert: string, name: string): () => void {
  const installed = join(LOCAL_CA_DIR, `${name}.crt`);
  copyFileSync(caCert, installed);
  execFileSync('update-ca-certificates', [], { stdio: 'pipe', timeout: 120000 });
  return () => {
    if (!existsSync(installed)) return;
    rmSync(installed, { force: true });
    execFileSync('update-ca-certificates', ['--fresh'], { stdio: 'pipe', timeout: 120000 });
  };
}
