import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BuildError } from '../../core/errors';
import { parseRegistry, RegistryTarget } from '../../core/oci-reference';
import { EcrClientFactory, RegistryAuth, registryAuth } from './auth';

/**
 * The two calls of the registry HTTP API (OCI distribution spec) the multi-arch index
 * needs and skopeo does not offer: HEAD a manifest (its media type, size and digest as the
 * registry stores it) and PUT a manifest under a tag. An index names manifests already in
 * the repository, so no blob moves. Logins are the push's (auth.ts): basic (the
 * TAILOR_REGISTRY_* pair, or an ECR token, which ECR takes as basic), answered with a
 * bearer token when the registry asks for one. Credentials go in headers only, never in a
 * URL or a message.
 */
export interface RegistryApiOptions {
  /** `--docker-registry` as given (an http:// prefix means plain HTTP). */
  registry: string;
  env?: NodeJS.ProcessEnv;
  ecrClient?: EcrClientFactory;
  signal?: AbortSignal;
}

export interface StoredManifest {
  mediaType: string;
  size: number;
  digest: string;
}

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export class RegistryApi {
  private readonly target: RegistryTarget;
  private readonly plainHttp: boolean;
  private auth?: RegistryAuth;
  private bearer?: string;

  constructor(private readonly options: RegistryApiOptions) {
    this.target = parseRegistry(options.registry);
    this.plainHttp = options.registry.trim().startsWith('http://');
  }

  /** The repository path in the registry for `<registry>/<repository>` (the --docker-registry prefix included). */
  repositoryPath(repositoryRef: string): string {
    const prefix = `${this.target.host}/`;
    if (!repositoryRef.startsWith(prefix)) throw new BuildError(`${repositoryRef} is not in the registry ${this.target.host}`);
    return repositoryRef.slice(prefix.length);
  }

  async headManifest(repository: string, reference: string): Promise<StoredManifest> {
    const answer = await this.call('HEAD', repository, reference, { accept: MANIFEST_ACCEPT });
    if (answer.status !== 200) throw new BuildError(`the registry ${this.target.host} has no manifest ${repository}@${reference} (HTTP ${answer.status})`);
    const mediaType = String(answer.headers['content-type'] ?? '').split(';')[0].trim();
    const size = Number(answer.headers['content-length']);
    const digest = String(answer.headers['docker-content-digest'] ?? reference);
    if (!mediaType || !Number.isInteger(size) || size <= 0) {
      throw new BuildError(`the registry ${this.target.host} gave no media type or size for ${repository}@${reference}`);
    }
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new BuildError(`the registry ${this.target.host} answered ${repository}@${reference} with another digest (${digest})`);
    }
    return { mediaType, size, digest };
  }

  /** A manifest's bytes by digest, checked against the digest. */
  async getManifest(repository: string, digest: string): Promise<Buffer> {
    const answer = await this.call('GET', repository, digest, { accept: MANIFEST_ACCEPT });
    if (answer.status !== 200) throw new BuildError(`the registry ${this.target.host} has no manifest ${repository}@${digest} (HTTP ${answer.status})`);
    const got = `sha256:${createHash('sha256').update(answer.body).digest('hex')}`;
    if (got !== digest) throw new BuildError(`the registry ${this.target.host} answered ${repository}@${digest} with other bytes (${got})`);
    return answer.body;
  }

  /** Puts a manifest under a tag; returns the digest of its bytes (checked against the registry's answer). */
  async putManifest(repository: string, tag: string, mediaType: string, body: string): Promise<string> {
    const bytes = Buffer.from(body, 'utf8');
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const answer = await this.call('PUT', repository, tag, { 'content-type': mediaType }, bytes);
    if (answer.status !== 201 && answer.status !== 200) {
      throw new BuildError(`the registry ${this.target.host} refused the manifest for ${repository}:${tag} (HTTP ${answer.status}${errorCode(answer.body)})`);
    }
    const stored = answer.headers['docker-content-digest'];
    if (stored !== undefined && stored !== digest) {
      throw new BuildError(`the registry ${this.target.host} stored ${repository}:${tag} as ${String(stored)}, not ${digest}`);
    }
    return digest;
  }

  private async call(method: string, repository: string, reference: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
    const path = `/v2/${repository}/manifests/${reference}`;
    this.auth ??= await registryAuth(this.target.host, { env: this.options.env, ecrClient: this.options.ecrClient });
    const send = () => this.send(method, path, { ...headers, ...this.authorization() }, body);
    let answer = await send();
    const challenge = String(answer.headers['www-authenticate'] ?? '');
    if (answer.status === 401 && /^bearer\s/i.test(challenge) && this.bearer === undefined) {
      this.bearer = await this.token(challenge, repository);
      answer = await send();
    }
    if (answer.status === 401) throw new BuildError(`the registry ${this.target.host} refused the login for ${repository} (HTTP 401)`);
    return answer;
  }

  private authorization(): Record<string, string> {
    if (this.bearer) return { authorization: `Bearer ${this.bearer}` };
    if (this.auth?.kind === 'basic') return { authorization: `Basic ${this.auth.auth}` };
    return {};
  }

  /** The bearer token flow (docker token auth): the realm named by the challenge, with the basic login if there is one. */
  private async token(challenge: string, repository: string): Promise<string> {
    const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1].toLowerCase(), m[2]]));
    if (!params.realm) throw new BuildError(`the registry ${this.target.host} asked for a token without naming where to get it`);
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', `repository:${repository}:pull,push`);
    const headers: Record<string, string> = this.auth?.kind === 'basic' ? { authorization: `Basic ${this.auth.auth}` } : {};
    const answer = await this.sendUrl('GET', url, headers);
    if (answer.status !== 200) throw new BuildError(`the registry's token service ${url.host} refused a token for ${repository} (HTTP ${answer.status})`);
    let token: unknown;
    try {
      const json = JSON.parse(answer.body.toString('utf8')) as { token?: unknown; access_token?: unknown };
      token = json.token ?? json.access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || token === '') throw new BuildError(`the registry's token service ${url.host} gave no token`);
    return token;
  }

  private async send(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
    const base = `${this.plainHttp ? 'http' : 'https'}://${this.target.host}`;
    try {
      return await this.sendUrl(method, new URL(path, base), headers, body);
    } catch (error) {
      // An insecure (loopback) registry given without http:// may speak plain HTTP, as skopeo allows.
      if (this.plainHttp || !this.target.insecure || this.options.signal?.aborted) throw error;
      return this.sendUrl(method, new URL(path, `http://${this.target.host}`), headers, body);
    }
  }

  private sendUrl(method: string, url: URL, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
    const request = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise<Answer>((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) },
          signal: this.options.signal,
          timeout: 60000,
          ...(url.protocol === 'https:' ? { rejectUnauthorized: !this.target.insecure } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (error) => reject(new BuildError(`cannot reach the registry ${url.host}: ${(error as NodeJS.ErrnoException).code ?? error.message.split('\n')[0]}`)));
      req.end(body);
    });
  }
}

/** The registry's error code from an error body (`{"errors":[{"code":...}]}`), for the message. */
function errorCode(body: Buffer): string {
  try {
    const code = (JSON.parse(body.toString('utf8')) as { errors?: { code?: string }[] }).errors?.[0]?.code;
    return typeof code === 'string' ? `: ${code.slice(0, 60)}` : '';
  } catch {
    return '';
  }
}
