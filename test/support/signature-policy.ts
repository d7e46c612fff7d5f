import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What podman needs to verify a registry's signatures: a policy file and a registries.d entry naming the lookaside. */
export interface SignaturePolicy {
  /** containers-policy.json(5) that requires a signature by the key for images of this registry. */
  policyFile: string;
  /** Removes the registries.d entry (podman reads registries.d from /etc only). */
  remove(): void;
}

/**
 * Writes a policy that rejects images of `registry` (host:port) unless signed by the key in
 * `publicKeyFile` (and accepts anything else), and a registries.d entry in
 * /etc/containers/registries.d that tells podman where the registry's signatures are
 * (`lookaside`, here a folder). The entry names only this registry; remove() takes it away.
 */
export function requireSignatures(dir: string, registry: string, publicKeyFile: string, lookaside: string): SignaturePolicy {
  const policyFile = join(dir, 'policy.json');
  writeFileSync(
    policyFile,
    JSON.stringify({
      default: [{ type: 'insecureAcceptAnything' }],
      transports: { docker: { [registry]: [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: publicKeyFile }] } },
    }),
  );
  const registriesD = '/etc/containers/registries.d';
  mkdirSync(registriesD, { recursive: true });
  const entry = join(registriesD, `tailor-image-test-${registry.replace(/[^A-Za-z0-9]/g, '-')}.yaml`);
  writeFileSync(entry, `docker:\n  ${JSON.stringify(registry)}:\n    lookaside: ${JSON.stringify(`file://${lookaside}`)}\n`);
  return { policyFile, remove: () => rmSync(entry, { force: true }) };
}
