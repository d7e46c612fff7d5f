import { spawn } from 'node:child_process';
import { BuildError, InterruptedError } from './errors';
import { BuildLog } from './log';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Fed to standard input (secrets go here, never into arguments). */
  input?: string | Buffer;
  /** Collect standard output and return it instead of logging it. */
  capture?: boolean;
  /** How the command is named in an error ("mmdebstrap", "apt-get install ..."). */
  describe?: string;
  log: BuildLog;
  signal?: AbortSignal;
}

export interface RunResult {
  stdout: string;
}

const TAIL_LINES = 40;

/**
 * Runs a command to completion in its own process group. Output goes to the debug log
 * line by line; the last lines are kept so a failure can say what went wrong. On abort
 * the whole group is killed.
 */
export function run(command: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  const { log, signal } = options;
  const name = options.describe ?? command;
  if (signal?.aborted) return Promise.reject(new InterruptedError(String(signal.reason ?? 'abort')));
  log.debug(`$ ${[command, ...args].map(quoteForLog).join(' ')}`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    const tail: string[] = [];
    const stdoutChunks: Buffer[] = [];
    const remember = (line: string) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      log.debug(`  ${line}`);
    };
    const lineSplitter = () => {
      let pending = '';
      return (chunk: Buffer) => {
        pending += chunk.toString('utf8');
        const lines = pending.split(/\r?\n|\r/);
        pending = lines.pop() ?? '';
        for (const line of lines) if (line.trim() !== '') remember(line);
      };
    };
    const onStderr = lineSplitter();
    const onStdout = lineSplitter();
    child.stderr.on('data', onStderr);
    child.stdout.on('data', (chunk: Buffer) => (options.capture ? stdoutChunks.push(chunk) : onStdout(chunk)));
    const onAbort = () => killGroup(child.pid);
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error: NodeJS.ErrnoException) => {
      signal?.removeEventListener('abort', onAbort);
      reject(
        error.code === 'ENOENT'
          ? new BuildError(`${name}: command ${command} not found`)
          : new BuildError(`${name}: ${error.message}`),
      );
    });
    child.on('close', (code, killedBy) => {
      signal?.removeEventListener('abort', onAbort);
      if (signal?.aborted) return reject(new InterruptedError(String(signal.reason ?? 'abort')));
      if (code === 0) return resolvePromise({ stdout: Buffer.concat(stdoutChunks).toString('utf8') });
      const last = [...tail].reverse().find((line) => /error|fail|unable|cannot|not found|denied|E:/i.test(line)) ?? tail.at(-1);
      const status = killedBy ? `killed by ${killedBy}` : `exit ${code}`;
      reject(new BuildError(`${name} failed (${status})${last ? `: ${last.trim()}` : ''}`, tail.join('\n')));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGTERM');
    setTimeout(() => {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, 3000).unref();
  } catch {
    /* already gone */
  }
}

function quoteForLog(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
