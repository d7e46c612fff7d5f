import { spawn } from 'node:child_process';
import { Architecture } from '../../core/architecture';
import { BuildLog } from '../../core/log';
import { hostToolEnv } from '../command-env';

/** What a check's command did inside the image. */
export interface CommandResult {
  /** The exit status (124 when it ran out of time, as timeout(1) says). */
  status: number;
  /** Its standard output and error, together. */
  output: string;
}

/** A running image the checks talk to: started by a runtime, stopped (and thrown away) after. */
export interface Guest {
  /** Runs a shell command in the image and waits for it (at most timeoutSeconds). */
  exec(command: string, timeoutSeconds: number): Promise<CommandResult>;
  /** Stops the image and removes everything the runtime made for it. Never throws. */
  stop(): Promise<void>;
  /** The host name the runtime gives the image, when not the recipe's (LXD: the instance's name). */
  hostname?: string;
}

/** What a runtime needs to start an image. */
export interface StartInput {
  /** The image file as stored (read only: nothing is ever written to it). */
  artifact: string;
  /** A folder private to this test run (removed with the build's work directory). */
  scratchDir: string;
  imageName: string;
  firmware: 'uefi' | 'bios';
  /** The image's CPU architecture (the machine a disk boots in). */
  architecture: Architecture;
  log: BuildLog;
  signal: AbortSignal;
}

/** One way of running an image: LXD, podman, QEMU... */
export interface TestRuntime {
  readonly name: string;
  /** Whether the image's init is checked (docker images have none). */
  readonly boots: boolean;
  /** Undefined when this host can run it (with this firmware and architecture, for disks); otherwise why not, in a few words. */
  unavailable(firmware: 'uefi' | 'bios', architecture: Architecture): Promise<string | undefined>;
  start(input: StartInput): Promise<Guest>;
}

/** A log for probes whose output nobody needs. */
export const quietLog: BuildLog = { stageStart() {}, stageEnd() {}, info() {}, warn() {}, debug() {} };

/** Runs a host program, its output kept (the last 64 KiB), its status returned rather than thrown. */
export function runHost(
  command: string,
  args: readonly string[],
  options: { timeoutMs: number; log: BuildLog; input?: string; env?: NodeJS.ProcessEnv },
): Promise<CommandResult> {
  options.log.debug(`$ ${[command, ...args].join(' ')}`);
  return new Promise((resolve) => {
    let output = '';
    let timedOut = false;
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-65536);
    };
    const child = spawn(command, args, { env: options.env ?? hostToolEnv(), stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, options.timeoutMs);
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ status: 127, output: `${command}: ${(error as NodeJS.ErrnoException).code ?? error}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ status: timedOut ? 124 : code ?? (signal ? 128 : 1), output: timedOut ? `${output}\n(timed out after ${options.timeoutMs / 1000} s)` : output });
    });
    child.stdin.on('error', () => undefined); // a command that exits without reading its input
    child.stdin.end(options.input ?? '');
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** The last lines of a command's output, for a failure message. */
export function lastLines(output: string, count = 10): string[] {
  return output
    .replace(/\r/g, '')
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line !== '')
    .slice(-count);
}
