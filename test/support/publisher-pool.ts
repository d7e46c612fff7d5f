import { ChildProcess, fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { BuiltImage } from '../../lib/core/image';
import { bundlePublishWorker } from './bundle-worker';
import { RgwServer, startRgw } from './rgw';

/** What a publish worker (publish-worker.ts, forked with IPC) answers. */
export interface PublishReply {
  ready?: boolean;
  ok?: boolean;
  imageName?: string;
  error?: string;
}

/** A long-lived publisher process that publishes the images it is sent. */
export class WorkerProcess {
  private readonly pending = new Map<string, (reply: PublishReply) => void>();
  readonly ready: Promise<void>;

  constructor(readonly child: ChildProcess) {
    let markReady: () => void = () => undefined;
    this.ready = new Promise((resolve) => (markReady = resolve));
    child.on('message', (reply: PublishReply) => {
      if (reply.ready) return markReady();
      const done = reply.imageName ? this.pending.get(reply.imageName) : undefined;
      if (done && reply.imageName) {
        this.pending.delete(reply.imageName);
        done(reply);
      }
    });
  }

  publish(bucket: string, image: BuiltImage): Promise<PublishReply> {
    return new Promise((resolve) => {
      this.pending.set(image.imageName, resolve);
      this.child.send({ bucket, image });
    });
  }
}

/** `count` publisher processes running the bundled worker `file`, ready to publish; kill() ends them. */
export async function startPublishers(count: number, file: string, env: NodeJS.ProcessEnv): Promise<{ workers: WorkerProcess[]; kill(): void }> {
  const workers = Array.from({ length: count }, () => new WorkerProcess(fork(file, [], { env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })));
  const kill = () => {
    for (const w of workers) w.child.kill('SIGKILL');
  };
  try {
    await Promise.all(workers.map((w) => w.ready));
  } catch (error) {
    kill();
    throw error;
  }
  return { workers, kill };
}

/** What the publisher race tests stand on: a Ceph RGW, a client, a work dir, the bundled worker and its environment. */
export interface PublishRig {
  rgw: RgwServer;
  s3: S3Client;
  work: string;
  worker: { file: string; dir: string };
  /** The workers find the server the standard SDK way, as a CodeBuild job would. */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export async function startPublishRig(workPrefix: string): Promise<PublishRig> {
  const [rgw, worker] = await Promise.all([startRgw(), bundlePublishWorker()]);
  const s3 = rgw.client();
  const work = await mkdtemp(join(tmpdir(), workPrefix));
  const env: NodeJS.ProcessEnv = { ...process.env, ...rgw.env, NODE_NO_WARNINGS: '1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
  delete env.AWS_PROFILE;
  return {
    rgw,
    s3,
    work,
    worker,
    env,
    async stop() {
      s3.destroy();
      await rgw.stop();
      await rm(work, { recursive: true, force: true });
      await rm(worker.dir, { recursive: true, force: true });
    },
  };
}
