import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildError, UsageError } from '../../core/errors';
import { sweepStale } from '../stale-files';

/** Environment variables holding basic-auth credentials for a non-ECR registry. */
export const REGISTRY_USERNAME_ENV = 'TAILOR_REGISTRY_USERNAME';
export const REGISTRY_PASSWORD_ENV = 'TAILOR_REGISTRY_PASSWORD';

const ECR_HOST = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

/** The account and region of an ECR registry host, or undefined for any other registry. */
export function ecrHost(host: string): { account: string; region: string } | undefined {
  const match = ECR_HOST.exec(host.replace(/:443$/, ''));
  return match ? { account: match[1], region: match[2] } : undefined;
}

/** The slice of the ECR client used here; tests hand in a fake at this boundary. */
export type EcrClientFactory = (region: string) => Pick<ECRClient, 'send'>;

const defaultEcrClient: EcrClientFactory = (region) => new ECRClient({ region });

/** One registry login, in the base64 "user:password" form of containers-auth.json. */
export type RegistryAuth = { kind: 'anonymous' } | { kind: 'basic'; auth: string; source: string };

/**
 * How to log in to a registry host: an ECR token from the AWS SDK for an ECR host;
 * TAILOR_REGISTRY_USERNAME/PASSWORD for any other; otherwise none (anonymous, or what
 * `skopeo login` stored).
 */
export async function registryAuth(
  host: string,
  options: { env?: NodeJS.ProcessEnv; ecrClient?: EcrClientFactory } = {},
): Promise<RegistryAuth> {
  const env = options.env ?? process.env;
  const ecr = ecrHost(host);
  if (ecr) {
    const client = (options.ecrClient ?? defaultEcrClient)(ecr.region);
    let token: string | undefined;
    try {
      const answer = await client.send(new GetAuthorizationTokenCommand({}));
      token = answer.authorizationData?.[0]?.authorizationToken;
    } catch (error) {
      throw new BuildError(`cannot get an ECR login for ${host}: ${(error as Error).name}: ${firstLine(error)}`);
    }
    if (!token) throw new BuildError(`cannot get an ECR login for ${host}: GetAuthorizationToken returned no token`);
    return { kind: 'basic', auth: token, source: 'ECR GetAuthorizationToken' };
  }
  const username = env[REGISTRY_USERNAME_ENV];
  const password = env[REGISTRY_PASSWORD_ENV];
  if (username && password) {
    if (username.includes(':')) throw new UsageError(`${REGISTRY_USERNAME_ENV} must not contain ":"`);
    return { kind: 'basic', auth: Buffer.from(`${username}:${password}`, 'utf8').toString('base64'), source: REGISTRY_USERNAME_ENV };
  }
  if (username || password) {
    throw new UsageError(`set both ${REGISTRY_USERNAME_ENV} and ${REGISTRY_PASSWORD_ENV}, or neither`);
  }
  return { kind: 'anonymous' };
}

/** A containers-auth.json in a private temp dir (0700 dir, 0600 file); remove() deletes it. */
export interface AuthFile {
  path: string;
  remove(): Promise<void>;
}

const AUTH_DIR_PREFIX = 'tailor-registry-auth-';

/** The process that made a login folder (`tailor-registry-auth-<pid>-XXXXXX`), or undefined for other names. */
function writerOfAuthDir(name: string): number | undefined {
  const match = new RegExp(`^${AUTH_DIR_PREFIX}(\\d+)-[A-Za-z0-9]{6}$`).exec(name);
  return match ? Number(match[1]) : undefined;
}

/**
 * Writes the login file for one push. The folders killed runs left (they hold credentials)
 * are swept first: those untouched for an hour whose process is gone (stale-files.ts).
 */
export async function writeAuthFile(host: string, auth: string, parent = tmpdir()): Promise<AuthFile> {
  await sweepStale(parent, { writerOf: writerOfAuthDir });
  const dir = await mkdtemp(join(parent, `${AUTH_DIR_PREFIX}${process.pid}-`));
  await chmod(dir, 0o700);
  const path = join(dir, 'auth.json');
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    await writeFile(path, JSON.stringify({ auths: { [host]: { auth } } }), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    await remove();
    throw new BuildError(`cannot write the registry login file: ${(error as NodeJS.ErrnoException).code ?? firstLine(error)}`);
  }
  return { path, remove };
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0];
}
