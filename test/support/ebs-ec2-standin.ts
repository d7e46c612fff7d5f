import { createHash, randomBytes } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo, Socket } from 'node:net';

/**
 * A stand-in for the EBS direct API (REST/JSON under /snapshots) and the EC2 Query API
 * (POST / with a form body) on one HTTP server on 127.0.0.1, for the real SDK clients
 * pointed at it with AWS_ENDPOINT_URL_EBS / AWS_ENDPOINT_URL_EC2 (or client endpoints).
 * It checks what the real services check: a SigV4 Authorization header for the right
 * service (its region scopes every resource, so copies land in other regions), 512 KiB
 * blocks inside the volume, each block's SHA256 (base64) and, at CompleteSnapshot, the
 * count of blocks and the LINEAR aggregate; it keeps the blocks so a snapshot can be
 * reassembled, and records every call (RegisterImage's parameters among them).
 * Faults: rejectBlockOnce(i) refuses the next put of block i once; dieAfterBlocks(n) drops
 * every connection once n blocks are stored, until revive().
 */

export const BLOCK_SIZE = 512 * 1024;

export interface StandinSnapshot {
  id: string;
  region: string;
  volumeSize: number;
  state: 'pending' | 'completed' | 'error';
  startTime: Date;
  tags: Map<string, string>;
  description?: string;
  blocks: Map<number, Buffer>;
  digests: Map<number, Buffer>;
  /** DescribeSnapshots answers `pending` this many more times after completion. */
  pendingDescribes: number;
  sharedWith: Set<string>;
}

export interface StandinImage {
  id: string;
  region: string;
  name: string;
  state: 'pending' | 'available';
  created: Date;
  tags: Map<string, string>;
  /** The request's parameters as sent (flattened Query names). */
  params: Record<string, string>;
  snapshotId: string;
  launchPermissions: Set<string>;
  deregistered: boolean;
}

export interface StandinCall {
  service: 'ebs' | 'ec2';
  operation: string;
  region: string;
  /** EBS: path params and headers; EC2: the flattened form parameters. */
  params: Record<string, string>;
}

function id(prefix: string): string {
  return `${prefix}-${randomBytes(8).toString('hex').slice(0, 17)}`;
}

function escapeXml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

class ServiceError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly reason?: string) {
    super(message);
  }
}

/** Flattened Query parameters `Prefix.N[.Sub]` as a list of their sub-parameter maps. */
function listOf(params: Record<string, string>, prefix: string): Record<string, string>[] {
  const out = new Map<number, Record<string, string>>();
  for (const [key, value] of Object.entries(params)) {
    const match = key.match(new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(\\d+)(?:\\.(.+))?$`));
    if (!match) continue;
    const n = Number(match[1]);
    const item = out.get(n) ?? {};
    item[match[2] ?? ''] = value;
    out.set(n, item);
  }
  return [...out.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

function valuesOf(params: Record<string, string>, prefix: string): string[] {
  return listOf(params, prefix).map((item) => item['']);
}

function tagXml(tags: Map<string, string>): string {
  return `<tagSet>${[...tags].map(([k, v]) => `<item><key>${escapeXml(k)}</key><value>${escapeXml(v)}</value></item>`).join('')}</tagSet>`;
}

export class EbsEc2Standin {
  readonly snapshots = new Map<string, StandinSnapshot>();
  readonly images = new Map<string, StandinImage>();
  readonly calls: StandinCall[] = [];
  /** Blocks refused by a fault, by snapshot and index. */
  readonly rejected: { snapshotId: string; index: number }[] = [];
  endpoint = '';
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private rejectOnce = new Set<number>();
  private dieAt?: number;
  private dead = false;
  /** Blocks stored so far (all snapshots). */
  storedBlocks = 0;
  /** Each block put is answered this much later (to catch a publisher mid-upload). */
  blockDelayMs = 0;
  private readonly account = '111122223333';

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      if (this.dead) socket.destroy();
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.endpoint;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The environment that points the SDK's EBS and EC2 clients here. */
  env(region = 'us-east-1'): Record<string, string> {
    return {
      AWS_ENDPOINT_URL_EBS: this.endpoint, AWS_ENDPOINT_URL_EC2: this.endpoint, AWS_REGION: region,
      AWS_ACCESS_KEY_ID: 'AKIDSTANDIN', AWS_SECRET_ACCESS_KEY: 'standin-secret',
    };
  }

  rejectBlockOnce(index: number): void {
    this.rejectOnce.add(index);
  }

  /** Drops every connection once `count` more blocks are stored, until revive(). */
  dieAfterBlocks(count: number): void {
    this.dieAt = this.storedBlocks + count;
  }

  revive(): void {
    this.dead = false;
    this.dieAt = undefined;
  }

  operations(name: string): StandinCall[] {
    return this.calls.filter((c) => c.operation === name);
  }

  /** The snapshot's first `size` bytes as a disk reads them (unwritten blocks are zeros). */
  reassemble(snapshotId: string, size: number): Buffer {
    const snapshot = this.snapshots.get(snapshotId);
    if (!snapshot) throw new Error(`no snapshot ${snapshotId}`);
    const disk = Buffer.alloc(size);
    for (const [index, block] of snapshot.blocks) {
      if (index * BLOCK_SIZE < size) block.copy(disk, index * BLOCK_SIZE, 0, Math.min(BLOCK_SIZE, size - index * BLOCK_SIZE));
    }
    return disk;
  }

  liveImages(): StandinImage[] {
    return [...this.images.values()].filter((i) => !i.deregistered);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (this.dead) return void res.socket?.destroy();
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://standin');
      const isEbs = url.pathname.startsWith('/snapshots');
      const delay = isEbs && req.method === 'PUT' ? this.blockDelayMs : 0;
      setTimeout(() => this.answer(req, res, url, body, isEbs), delay);
    });
  }

  private answer(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer, isEbs: boolean): void {
    {
      if (this.dead || res.destroyed) return void res.socket?.destroy();
      try {
        const region = this.authorize(req, isEbs ? 'ebs' : 'ec2');
        if (isEbs) this.ebs(req, res, url, body, region);
        else this.ec2(res, Object.fromEntries(new URLSearchParams(body.toString('utf8'))), region);
      } catch (error) {
        const e = error instanceof ServiceError ? error : new ServiceError(500, 'InternalError', String((error as Error)?.message ?? error));
        if (isEbs) {
          res.writeHead(e.status, { 'content-type': 'application/json', 'x-amzn-errortype': e.code });
          res.end(JSON.stringify({ message: e.message, ...(e.reason ? { Reason: e.reason } : {}) }));
        } else {
          res.writeHead(e.status, { 'content-type': 'text/xml' });
          res.end(`<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${e.code}</Code><Message>${escapeXml(e.message)}</Message></Error></Errors><RequestID>r</RequestID></Response>`);
        }
      }
    }
  }

  /** SigV4: `AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, SignedHeaders=..., Signature=...`. */
  private authorize(req: IncomingMessage, service: 'ebs' | 'ec2'): string {
    const header = String(req.headers.authorization ?? '');
    const match = header.match(/^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=[^,]+, ?Signature=[0-9a-f]{64}$/);
    if (!match) throw new ServiceError(403, service === 'ebs' ? 'AccessDeniedException' : 'AuthFailure', 'request is not signed with SigV4');
    if (match[2] !== service) throw new ServiceError(403, 'InvalidSignatureException', `signed for ${match[2]}, not ${service}`);
    return match[1];
  }

  private ebs(req: IncomingMessage, res: ServerResponse, url: URL, body: Buffer, region: string): void {
    const h = (name: string) => (req.headers[name.toLowerCase()] as string | undefined);
    const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(value));
    };
    const find = (snapshotId: string): StandinSnapshot => {
      const snapshot = this.snapshots.get(snapshotId);
      if (!snapshot || snapshot.region !== region) throw new ServiceError(404, 'ResourceNotFoundException', `no snapshot ${snapshotId}`, 'SNAPSHOT_NOT_FOUND');
      return snapshot;
    };
    let m: RegExpMatchArray | null;
    if (req.method === 'POST' && url.pathname === '/snapshots') {
      const input = JSON.parse(body.toString('utf8') || '{}') as { VolumeSize?: number; Tags?: { Key: string; Value: string }[]; Description?: string; Timeout?: number };
      this.calls.push({ service: 'ebs', operation: 'StartSnapshot', region, params: { VolumeSize: String(input.VolumeSize), Timeout: String(input.Timeout ?? '') } });
      if (!Number.isInteger(input.VolumeSize) || input.VolumeSize! < 1 || input.VolumeSize! > 65536) throw new ServiceError(400, 'ValidationException', 'VolumeSize is required (1..65536 GiB)', 'INVALID_VOLUME_SIZE');
      if (input.Timeout !== undefined && (input.Timeout < 10 || input.Timeout > 4320)) throw new ServiceError(400, 'ValidationException', 'Timeout must be 10..4320 minutes');
      const snapshot: StandinSnapshot = {
        id: id('snap'), region, volumeSize: input.VolumeSize!, state: 'pending', startTime: new Date(),
        tags: new Map((input.Tags ?? []).map((t) => [t.Key, t.Value])), description: input.Description,
        blocks: new Map(), digests: new Map(), pendingDescribes: 1, sharedWith: new Set(),
      };
      this.snapshots.set(snapshot.id, snapshot);
      return json(201, {
        SnapshotId: snapshot.id, OwnerId: this.account, Status: 'pending', StartTime: snapshot.startTime.getTime() / 1000,
        VolumeSize: snapshot.volumeSize, BlockSize: BLOCK_SIZE, Tags: input.Tags ?? [], Description: input.Description,
      });
    }
    if (req.method === 'PUT' && (m = url.pathname.match(/^\/snapshots\/([^/]+)\/blocks\/(\d+)$/))) {
      const snapshot = find(decodeURIComponent(m[1]));
      const index = Number(m[2]);
      this.calls.push({ service: 'ebs', operation: 'PutSnapshotBlock', region, params: { SnapshotId: snapshot.id, BlockIndex: m[2] } });
      if (snapshot.state !== 'pending') throw new ServiceError(400, 'ValidationException', `snapshot ${snapshot.id} is ${snapshot.state}`, 'INVALID_SNAPSHOT_STATE');
      if (index >= (snapshot.volumeSize * 1024 ** 3) / BLOCK_SIZE) throw new ServiceError(400, 'ValidationException', `block index ${index} is past the volume`, 'INVALID_BLOCK');
      const length = Number(h('x-amz-Data-Length'));
      if (length !== BLOCK_SIZE || body.length !== BLOCK_SIZE) throw new ServiceError(400, 'ValidationException', `a block is ${BLOCK_SIZE} bytes (Data-Length ${h('x-amz-Data-Length')}, body ${body.length})`, 'INVALID_BLOCK');
      if (h('x-amz-Checksum-Algorithm') !== 'SHA256' || !h('x-amz-Checksum')) throw new ServiceError(400, 'ValidationException', 'Checksum and ChecksumAlgorithm SHA256 are required', 'INVALID_CHECKSUM');
      const digest = createHash('sha256').update(body).digest();
      if (digest.toString('base64') !== h('x-amz-Checksum')) throw new ServiceError(400, 'ValidationException', `block ${index}: checksum mismatch`, 'INVALID_CHECKSUM');
      if (this.rejectOnce.delete(index)) {
        this.rejected.push({ snapshotId: snapshot.id, index });
        throw new ServiceError(400, 'ValidationException', `block ${index} refused once by the test`, 'INVALID_BLOCK');
      }
      snapshot.blocks.set(index, Buffer.from(body));
      snapshot.digests.set(index, digest);
      this.storedBlocks += 1;
      if (this.dieAt !== undefined && this.storedBlocks >= this.dieAt) {
        this.dead = true;
        setImmediate(() => this.sockets.forEach((s) => s.destroy()));
      }
      return json(201, {}, { 'x-amz-Checksum': digest.toString('base64'), 'x-amz-Checksum-Algorithm': 'SHA256' });
    }
    if (req.method === 'POST' && (m = url.pathname.match(/^\/snapshots\/completion\/([^/]+)$/))) {
      const snapshot = find(decodeURIComponent(m[1]));
      const params = {
        SnapshotId: snapshot.id, ChangedBlocksCount: h('x-amz-ChangedBlocksCount') ?? '', Checksum: h('x-amz-Checksum') ?? '',
        ChecksumAlgorithm: h('x-amz-Checksum-Algorithm') ?? '', ChecksumAggregationMethod: h('x-amz-Checksum-Aggregation-Method') ?? '',
      };
      this.calls.push({ service: 'ebs', operation: 'CompleteSnapshot', region, params });
      if (snapshot.state !== 'pending') throw new ServiceError(400, 'ValidationException', `snapshot ${snapshot.id} is ${snapshot.state}`, 'INVALID_SNAPSHOT_STATE');
      if (Number(params.ChangedBlocksCount) !== snapshot.blocks.size) {
        snapshot.state = 'error';
        throw new ServiceError(400, 'ValidationException', `ChangedBlocksCount ${params.ChangedBlocksCount}, but ${snapshot.blocks.size} blocks were written`, 'INVALID_CHANGED_BLOCKS_COUNT');
      }
      if (params.Checksum) {
        if (params.ChecksumAlgorithm !== 'SHA256' || params.ChecksumAggregationMethod !== 'LINEAR') throw new ServiceError(400, 'ValidationException', 'aggregate needs SHA256 and LINEAR', 'INVALID_CHECKSUM');
        const linear = createHash('sha256');
        for (const index of [...snapshot.digests.keys()].sort((a, b) => a - b)) linear.update(snapshot.digests.get(index)!);
        if (linear.digest('base64') !== params.Checksum) {
          snapshot.state = 'error';
          throw new ServiceError(400, 'ValidationException', 'the aggregate checksum does not match the blocks', 'INVALID_CHECKSUM');
        }
      }
      snapshot.state = 'completed';
      return json(202, { Status: 'pending' });
    }
    throw new ServiceError(404, 'ResourceNotFoundException', `no such EBS call ${req.method} ${url.pathname}`);
  }

  private ec2(res: ServerResponse, params: Record<string, string>, region: string): void {
    const action = params.Action ?? '';
    this.calls.push({ service: 'ec2', operation: action, region, params });
    if (params.Version !== '2016-11-15') throw new ServiceError(400, 'InvalidParameterValue', `unknown API version ${params.Version}`);
    const reply = (inner: string) => {
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><${action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>${inner}</${action}Response>`);
    };
    const filters = listOf(params, 'Filter').map((f) => ({ name: f.Name, values: valuesOf(f as Record<string, string>, 'Value') }));
    // listOf keeps sub-keys flat ("Value.1"): re-read them per filter.
    for (const [i, f] of filters.entries()) f.values = Object.entries(params).filter(([k]) => k.startsWith(`Filter.${i + 1}.Value.`)).map(([, v]) => v);
    const tagMatch = (tags: Map<string, string>, name: string, values: string[]): boolean | undefined => {
      if (name === 'tag-key') return values.some((v) => tags.has(v));
      if (name.startsWith('tag:')) return values.includes(tags.get(name.slice(4)) ?? '\u0000');
      return undefined;
    };
    const snapshotIn = (id: string) => {
      const s = this.snapshots.get(id);
      if (!s || s.region !== region) throw new ServiceError(400, 'InvalidSnapshot.NotFound', `The snapshot '${id}' does not exist.`);
      return s;
    };
    const imageIn = (id: string) => {
      const i = this.images.get(id);
      if (!i || i.region !== region || i.deregistered) throw new ServiceError(400, 'InvalidAMIID.NotFound', `The image id '[${id}]' does not exist`);
      return i;
    };
    const snapshotXml = (s: StandinSnapshot) => {
      let state = s.state;
      if (state === 'completed' && s.pendingDescribes > 0) {
        s.pendingDescribes -= 1;
        state = 'pending' as never;
      }
      return `<item><snapshotId>${s.id}</snapshotId><status>${state}</status><startTime>${s.startTime.toISOString()}</startTime><ownerId>${this.account}</ownerId><volumeSize>${s.volumeSize}</volumeSize><description>${escapeXml(s.description ?? '')}</description><encrypted>false</encrypted>${tagXml(s.tags)}</item>`;
    };
    const imageXml = (i: StandinImage) => {
      const state = i.state;
      if (i.state === 'pending') i.state = 'available';
      return `<item><imageId>${i.id}</imageId><imageState>${state}</imageState><imageOwnerId>${this.account}</imageOwnerId><creationDate>${i.created.toISOString()}</creationDate><name>${escapeXml(i.name)}</name><architecture>${i.params.Architecture ?? ''}</architecture><rootDeviceType>ebs</rootDeviceType><rootDeviceName>${i.params.RootDeviceName ?? ''}</rootDeviceName><blockDeviceMapping><item><deviceName>${i.params.RootDeviceName ?? ''}</deviceName><ebs><snapshotId>${i.snapshotId}</snapshotId></ebs></item></blockDeviceMapping><virtualizationType>hvm</virtualizationType><bootMode>${i.params.BootMode ?? ''}</bootMode>${tagXml(i.tags)}</item>`;
    };
    switch (action) {
      case 'DescribeSnapshots': {
        const ids = valuesOf(params, 'SnapshotId');
        let found = [...this.snapshots.values()].filter((s) => s.region === region);
        if (ids.length > 0) found = ids.map(snapshotIn);
        for (const f of filters) found = found.filter((s) => tagMatch(s.tags, f.name, f.values) ?? (f.name === 'status' ? f.values.includes(s.state) : true));
        return reply(`<snapshotSet>${found.map(snapshotXml).join('')}</snapshotSet>`);
      }
      case 'DeleteSnapshot': {
        const s = snapshotIn(params.SnapshotId ?? '');
        const user = this.liveImages().find((i) => i.snapshotId === s.id);
        if (user) throw new ServiceError(400, 'InvalidSnapshot.InUse', `The snapshot ${s.id} is currently in use by ${user.id}`);
        this.snapshots.delete(s.id);
        return reply('<return>true</return>');
      }
      case 'DescribeImages': {
        const ids = valuesOf(params, 'ImageId');
        let found = this.liveImages().filter((i) => i.region === region);
        if (ids.length > 0) found = ids.map(imageIn);
        for (const f of filters) {
          found = found.filter((i) => tagMatch(i.tags, f.name, f.values) ?? (f.name === 'block-device-mapping.snapshot-id' ? f.values.includes(i.snapshotId) : f.name === 'name' ? f.values.includes(i.name) : true));
        }
        return reply(`<imagesSet>${found.map(imageXml).join('')}</imagesSet>`);
      }
      case 'RegisterImage': {
        for (const required of ['Name']) if (!params[required]) throw new ServiceError(400, 'MissingParameter', `${required} is required`);
        const mappings = listOf(params, 'BlockDeviceMapping');
        const root = mappings.find((mapping) => mapping.DeviceName === params.RootDeviceName);
        if (!root?.['Ebs.SnapshotId']) throw new ServiceError(400, 'InvalidBlockDeviceMapping', 'the root device needs a snapshot');
        const snapshot = snapshotIn(root['Ebs.SnapshotId']);
        if (snapshot.state !== 'completed') throw new ServiceError(400, 'IncorrectState', `snapshot ${snapshot.id} is ${snapshot.state}`);
        if (this.liveImages().some((i) => i.region === region && i.name === params.Name)) throw new ServiceError(400, 'InvalidAMIName.Duplicate', `AMI name ${params.Name} is already in use`);
        const tags = new Map<string, string>();
        for (const spec of listOf(params, 'TagSpecification')) {
          if (spec.ResourceType !== 'image') throw new ServiceError(400, 'InvalidParameterValue', `cannot tag ${spec.ResourceType} here`);
        }
        for (const [k, v] of Object.entries(params)) {
          const tm = k.match(/^TagSpecification\.1\.Tag\.(\d+)\.Key$/);
          if (tm) tags.set(v, params[`TagSpecification.1.Tag.${tm[1]}.Value`] ?? '');
        }
        const image: StandinImage = {
          id: id('ami'), region, name: params.Name, state: 'available', created: new Date(), tags, params, snapshotId: snapshot.id,
          launchPermissions: new Set(), deregistered: false,
        };
        this.images.set(image.id, image);
        return reply(`<imageId>${image.id}</imageId>`);
      }
      case 'CopyImage': {
        const source = this.images.get(params.SourceImageId ?? '');
        if (!source || source.deregistered || source.region !== params.SourceRegion) throw new ServiceError(400, 'InvalidAMIID.NotFound', `no image ${params.SourceImageId} in ${params.SourceRegion}`);
        const from = this.snapshots.get(source.snapshotId)!;
        const copy: StandinSnapshot = { ...from, id: id('snap'), region, tags: new Map(from.tags), sharedWith: new Set(), pendingDescribes: 0 };
        this.snapshots.set(copy.id, copy);
        const image: StandinImage = {
          id: id('ami'), region, name: params.Name ?? source.name, state: 'pending', created: new Date(),
          tags: params.CopyImageTags === 'true' ? new Map(source.tags) : new Map(), params: { ...source.params, ...params }, snapshotId: copy.id,
          launchPermissions: new Set(), deregistered: false,
        };
        this.images.set(image.id, image);
        return reply(`<imageId>${image.id}</imageId>`);
      }
      case 'DeregisterImage': {
        imageIn(params.ImageId ?? '').deregistered = true;
        return reply('<return>true</return>');
      }
      case 'ModifyImageAttribute': {
        const image = imageIn(params.ImageId ?? '');
        for (const item of listOf(params, 'LaunchPermission.Add')) if (item.UserId) image.launchPermissions.add(item.UserId);
        return reply('<return>true</return>');
      }
      case 'ModifySnapshotAttribute': {
        const snapshot = snapshotIn(params.SnapshotId ?? '');
        if (params.Attribute !== 'createVolumePermission' || params.OperationType !== 'add') throw new ServiceError(400, 'InvalidParameterValue', 'only createVolumePermission add is supported here');
        for (const user of valuesOf(params, 'UserId')) snapshot.sharedWith.add(user);
        return reply('<return>true</return>');
      }
      case 'CreateTags': {
        const resources = valuesOf(params, 'ResourceId');
        const tags = listOf(params, 'Tag');
        for (const resource of resources) {
          const target = resource.startsWith('snap-') ? snapshotIn(resource).tags : imageIn(resource).tags;
          for (const t of tags) target.set(t.Key, t.Value ?? '');
        }
        return reply('<return>true</return>');
      }
      default:
        throw new ServiceError(400, 'InvalidAction', `the stand-in does not answer ${action}`);
    }
  }
}
