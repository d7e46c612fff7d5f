import { ChildProcess, fork } from 'node:child_process';
import { BuiltImage } from '../../lib/core/image';

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
