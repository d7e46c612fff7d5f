import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { copyFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findOnPath } from '../../core/host-tools';
import { BuildError } from '../../core/errors';
import { hostToolEnv } from '../command-env';
import { shellQuote } from './checks';
import { rootPartitionOffset, throwawayDisk, writeIntoExt4 } from './disk-copy';
import { CommandResult, Guest, StartInput, TestRuntime, lastLines } from './guest';

/** OVMF as Debian ships it, and as Ubuntu 24.04 does (4 MiB variable store only). */
const OVMF_PAIRS = [
  { code: '/usr/share/OVMF/OVMF_CODE.fd', vars: '/usr/share/OVMF/OVMF_VARS.fd' },
  { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
];

export function findOvmf(): { code: string; vars: string } | undefined {
  return OVMF_PAIRS.find((pair) => existsSync(pair.code) && existsSync(pair.vars));
}

/** Where the guest's test shell listens: the second serial port, which the image's own console never uses. */
const CHANNEL_TTY = '/dev/ttyS1';
const CHANNEL_UNIT = 'tailor-image-test-channel.service';
const READY = 'TAILOR_TEST_CHANNEL_READY';

/**
 * The unit the test copy gets (and the stored disk never does): a root shell on ttyS1, which
 * QEMU connects to the gate's pipe. It starts with the ordinary boot (multi-user.target) and
 * does not delay it; the first-boot units run as they will on a real machine.
 */
export const CHANNEL_UNIT_TEXT = `[Unit]
Description=tailor-image test channel (only in the throwaway copy the gate boots)
After=systemd-remount-fs.service

[Service]
Type=simple
ExecStart=/bin/sh -c 'stty -echo -onlcr raw 2>/dev/null; echo ${READY}; exec /bin/sh'
StandardInput=tty-force
StandardOutput=tty
StandardError=tty
TTYPath=${CHANNEL_TTY}
TTYReset=yes
# An interactive shell ignores SIGTERM: without this, power-off waits 90 s for it.
KillSignal=SIGKILL

[Install]
WantedBy=multi-user.target
`;

/** Talks to the guest's shell on the channel: commands framed by markers, their status read back. */
export class SerialChannel {
  private output = '';
  private cursor = 0;
  private counter = 0;
  private exited: string | undefined;

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8').replace(/\r/g, '')));
    child.on('exit', (code, signal) => (this.exited = String(code ?? signal)));
  }

  get exitedWith(): string | undefined {
    return this.exited;
  }

  /** Waits until the channel prints `pattern` after the cursor; moves past it. Undefined on timeout or exit. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.output.slice(this.cursor));
      if (match) {
        this.cursor += match.index + match[0].length;
        return match;
      }
      if (this.exited !== undefined || Date.now() > deadline) return undefined;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async exec(command: string, timeoutSeconds: number): Promise<CommandResult> {
    const id = `${process.pid}x${++this.counter}`;
    // The markers are split by empty quotes, so no echo of the line itself can match them.
    this.child.stdin.write(
      `echo __BEG""IN_${id}__; timeout -k 5 ${timeoutSeconds} sh -c ${shellQuote(command)} 2>&1 </dev/null; echo __E""ND_${id}__$?\n`,
    );
    const waitMs = (timeoutSeconds + 30) * 1000;
    if (!(await this.waitFor(new RegExp(`__BEGIN_${id}__\\n`), 60_000))) return { status: 125, output: this.lost() };
    const start = this.cursor;
    const end = await this.waitFor(new RegExp(`__END_${id}__(\\d+)\\n`), waitMs);
    if (!end) return { status: 125, output: `${this.output.slice(start)}\n${this.lost()}` };
    return { status: Number(end[1]), output: this.output.slice(start, this.cursor - end[0].length).trim() };
  }

  send(text: string): void {
    if (this.exited === undefined) this.child.stdin.write(text);
  }

  private lost(): string {
    return this.exited !== undefined ? `(QEMU exited: ${this.exited})` : '(no answer on the test channel)';
  }
}

/**
 * bare_metal (and other disk) images under QEMU (TCG: no KVM needed), booted from the disk
 * alone by the firmware the recipe names (OVMF for UEFI, SeaBIOS for BIOS). The disk booted
 * is a throwaway copy of the stored one with one addition, the test channel unit; the
 * console (ttyS0) goes to a file whose last lines a failure shows; the machine is powered
 * off after the checks, its copy removed.
 */
export const qemuRuntime: TestRuntime = {
  name: 'qemu',
  boots: true,

  async unavailable(firmware) {
    for (const tool of ['qemu-system-x86_64', 'debugfs', 'sfdisk', 'xz']) {
      if (!findOnPath(tool)) return `no ${tool} (apt-get install qemu-system-x86 e2fsprogs fdisk xz-utils)`;
    }
    if (firmware === 'uefi' && !findOvmf()) return 'no UEFI firmware (/usr/share/OVMF: apt-get install ovmf)';
    return undefined;
  },

  async start(input: StartInput): Promise<Guest> {
    const { log, scratchDir } = input;
    const disk = await throwawayDisk(input.artifact, scratchDir, log, input.signal);
    const offset = await rootPartitionOffset(disk, log);
    await writeIntoExt4(
      disk,
      offset,
      [{ path: `/etc/systemd/system/${CHANNEL_UNIT}`, content: CHANNEL_UNIT_TEXT, mode: 0o644 }],
      [{ path: `/etc/systemd/system/multi-user.target.wants/${CHANNEL_UNIT}`, target: `/etc/systemd/system/${CHANNEL_UNIT}` }],
      scratchDir,
      log,
    );
    const consoleLog = join(scratchDir, 'console.log');
    const args = [
      '-accel', 'tcg', '-machine', 'q35', '-cpu', 'max', '-smp', '2', '-m', '1024',
      '-display', 'none', '-monitor', 'none', '-nodefaults', '-no-reboot',
      '-serial', `file:${consoleLog}`, '-serial', 'stdio',
      '-nic', 'user,model=virtio-net-pci',
      '-drive', `file=${disk},format=raw,if=virtio`,
    ];
    const ovmf = findOvmf();
    if (input.firmware === 'uefi' && ovmf) {
      const vars = join(scratchDir, 'OVMF_VARS.fd');
      await copyFile(ovmf.vars, vars);
      args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${ovmf.code}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
    }
    log.debug(`$ qemu-system-x86_64 ${args.join(' ')}`);
    const child = spawn('qemu-system-x86_64', args, { stdio: ['pipe', 'pipe', 'pipe'], env: hostToolEnv() });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4096)));
    child.stdin.on('error', () => undefined); // QEMU gone: its exit says why
    const channel = new SerialChannel(child);
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const kill = () => {
      if (channel.exitedWith === undefined) child.kill('SIGKILL');
    };
    input.signal.addEventListener('abort', kill, { once: true });
    const stop = async () => {
      channel.send('systemctl poweroff\n');
      const timer = setTimeout(kill, 60_000); // a throwaway copy: no need to wait long for a clean stop
      await gone;
      clearTimeout(timer);
      input.signal.removeEventListener('abort', kill);
      await rm(disk, { force: true });
    };
    log.info(`test: booting a throwaway copy of the disk under QEMU (TCG, ${input.firmware === 'uefi' ? 'UEFI (OVMF)' : 'BIOS'}); the channel is ttyS1`);
    if (!(await channel.waitFor(new RegExp(READY), 15 * 60_000))) {
      const why = channel.exitedWith !== undefined ? `QEMU exited (${channel.exitedWith}) ${lastLines(stderr, 1).join('')}` : 'the test channel did not come up';
      kill();
      await stop();
      const console = await consoleTail(consoleLog);
      log.warn(`test: the disk did not boot; the console's last lines:`);
      for (const line of console) log.warn(`  | ${line}`);
      throw new BuildError(`test: the disk did not boot to its multi-user target: ${why}`, console.join('\n'));
    }
    await channel.exec('true', 30);
    return { exec: (command, timeoutSeconds) => channel.exec(command, timeoutSeconds), stop };
  },
};

/** The console's last lines (for a boot that failed). */
async function consoleTail(path: string): Promise<string[]> {
  const { readFile } = await import('node:fs/promises');
  return lastLines(await readFile(path, 'utf8').catch(() => ''), 20);
}
