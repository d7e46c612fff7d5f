import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';

/**
 * A stand-in for EC2's instance metadata service (IMDS) with IMDSv2 required, as an
 * instance launched with HttpTokens=required sees it: a session token from
 * `PUT /latest/api/token` (with X-aws-ec2-metadata-token-ttl-seconds), then every read
 * carries it in X-aws-ec2-metadata-token; a read without it is 401. It serves meta-data
 * (instance-id, local-hostname, the launch key pair under public-keys/, placement...), the
 * user data and the instance identity document, under any API version (`latest`,
 * `2021-03-23`, ...), and records every request.
 *
 * It listens on 127.0.0.1; a VM reaches it at 169.254.169.254:80 through QEMU's user
 * network (`guestfwd=tcp:169.254.169.254:80-cmd:<relayCommand()>`: QEMU runs the relay per
 * connection, which joins the connection to this server).
 */

export interface InstanceIdentity {
  instanceId: string;
  /** EC2's local-hostname (an FQDN such as ip-10-0-0-5.ec2.internal). */
  localHostname: string;
  keyName: string;
  /** The launch key pair's public half, one OpenSSH line. */
  publicKey: string;
  /** The launch's user data (cloud-config, a script...). */
  userData?: string;
  region?: string;
  instanceType?: string;
}

export interface ImdsRequest {
  method: string;
  path: string;
  /** The token the request carried: none, one this server issued, or another. */
  token: 'none' | 'valid' | 'invalid';
  status: number;
}

type Tree = { [name: string]: string | Tree };

const VERSIONED = /^\/(latest|[0-9]{4}-[0-9]{2}-[0-9]{2})(\/.*)?$/;
const MAX_TTL_SECONDS = 21600;

export class ImdsStandIn {
  readonly requests: ImdsRequest[] = [];
  private readonly tokens = new Set<string>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly relay: string,
    private readonly identity: InstanceIdentity,
  ) {}

  /** Starts it on a free loopback port; the relay script is written into workDir. */
  static async start(identity: InstanceIdentity, workDir: string): Promise<ImdsStandIn> {
    const relay = join(workDir, 'imds-relay.js');
    writeFileSync(relay, RELAY_SCRIPT);
    let standIn: ImdsStandIn | undefined;
    const server = createServer((req, res) => standIn!.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    standIn = new ImdsStandIn(server, (server.address() as AddressInfo).port, relay, identity);
    return standIn;
  }

  /** The command QEMU's guestfwd runs for each guest connection (stdin/stdout are the connection). */
  relayCommand(): string {
    return `${process.execPath} ${this.relay} ${this.port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const header = req.headers['x-aws-ec2-metadata-token'];
    const token = header === undefined ? 'none' : this.tokens.has(String(header)) ? 'valid' : 'invalid';
    const answer = (status: number, body = '', type = 'text/plain') => {
      this.requests.push({ method: req.method ?? '', path, token, status });
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), Server: 'EC2ws' });
      res.end(body);
    };
    req.resume();
    if (req.method === 'PUT') {
      if (path !== '/latest/api/token') return answer(403);
      // AWS refuses tokens for requests that went through a proxy.
      if (req.headers['x-forwarded-for'] !== undefined) return answer(403);
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) return answer(400);
      const issued = randomBytes(32).toString('base64url');
      this.tokens.add(issued);
      return answer(200, issued);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(405);
    // IMDSv2 required: no valid token, no data (IMDSv1 is refused).
    if (token !== 'valid') return answer(401);
    const versioned = VERSIONED.exec(path);
    if (!versioned) return path === '/' ? answer(200, 'latest\n') : answer(404);
    const rest = (versioned[2] ?? '/').replace(/^\//, '');
    if (rest === '') return answer(200, 'dynamic\nmeta-data\nuser-data');
    if (rest === 'user-data') return this.identity.userData === undefined ? answer(404) : answer(200, this.identity.userData, 'application/octet-stream');
    if (rest === 'dynamic' || rest === 'dynamic/') return answer(200, 'instance-identity/');
    if (rest === 'dynamic/instance-identity' || rest === 'dynamic/instance-identity/') return answer(200, 'document');
    if (rest === 'dynamic/instance-identity/document') return answer(200, JSON.stringify(this.identityDocument(), null, 2));
    if (rest === 'meta-data' || rest.startsWith('meta-data/')) {
      const found = lookup(this.metaData(), rest.slice('meta-data'.length).split('/').filter(Boolean));
      if (found === undefined) return answer(404);
      if (typeof found === 'string') return answer(200, found);
      if (rest.replace(/\/$/, '') === 'meta-data/public-keys') return answer(200, `0=${this.identity.keyName}`);
      return answer(200, Object.entries(found).map(([name, value]) => (typeof value === 'string' ? name : `${name}/`)).join('\n'));
    }
    return answer(404);
  }

  private region(): string {
    return this.identity.region ?? 'us-east-1';
  }

  private metaData(): Tree {
    const { instanceId, localHostname, publicKey, instanceType } = this.identity;
    return {
      'ami-id': 'ami-0a1b2c3d4e5f60718',
      'ami-launch-index': '0',
      hostname: localHostname,
      'instance-id': instanceId,
      'instance-type': instanceType ?? 't3.micro',
      'local-hostname': localHostname,
      'local-ipv4': '169.254.169.15',
      mac: '52:54:00:12:34:56',
      placement: { 'availability-zone': `${this.region()}a`, region: this.region() },
      'public-keys': { '0': { 'openssh-key': `${publicKey.trim()}\n` } },
      'reservation-id': 'r-0123456789abcdef0',
      'security-groups': 'default',
      services: { domain: 'amazonaws.com', partition: 'aws' },
    };
  }

  private identityDocument(): Record<string, unknown> {
    return {
      accountId: '123456789012',
      architecture: 'x86_64',
      availabilityZone: `${this.region()}a`,
      imageId: 'ami-0a1b2c3d4e5f60718',
      instanceId: this.identity.instanceId,
      instanceType: this.identity.instanceType ?? 't3.micro',
      pendingTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      privateIp: '169.254.169.15',
      region: this.region(),
      version: '2017-09-30',
    };
  }
}

function lookup(tree: Tree, parts: string[]): string | Tree | undefined {
  let node: string | Tree = tree;
  for (const part of parts) {
    if (typeof node === 'string' || !Object.hasOwn(node, part)) return undefined;
    node = node[part];
  }
  return node;
}

/** Joins stdin/stdout (one guest connection, from QEMU's guestfwd) to the stand-in's port. */
const RELAY_SCRIPT = `'use strict';
const socket = require('node:net').connect(Number(process.argv[2]), '127.0.0.1');
process.stdin.pipe(socket);
socket.pipe(process.stdout);
socket.on('close', () => process.exit(0));
socket.on('error', () => process.exit(1));
`;
