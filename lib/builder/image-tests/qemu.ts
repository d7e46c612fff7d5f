import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { copyFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Architecture } from '../../core/architecture';
import { findOnPath } from '../../core/host-tools';
import { BuildError } from '../../core/errors';
import { hostToolEnv } from '../command-env';
import { shellQuote } from './checks';
import { rootPartitionOffset, throwawayDisk, writeIntoExt4 } from './disk-copy';
import { CommandResult, Guest, StartInput, TestRuntime, lastLines } from './guest';

export interface FirmwarePair {
  code: string;
  vars: string;
}

/**
 * The QEMU machine a disk of each architecture boots in (TCG, from the disk alone), in one
 * table: the emulator, the board and CPU, the UEFI firmware, and the test channel (a second
 * serial line the image's own console never uses: ttyS1 on a PC; virt has one PL011 only,
 * so a virtio console, hvc0, there).
 */
export interface QemuMachine {
  binary: string;
  /** What to apt-get install for the emulator. */
  hostPackage: string;
  machine: string[];
  /** UEFI firmware as Debian and Ubuntu ship it, in order of preference. */
  uefiFirmware: FirmwarePair[];
  uefiPackage: string;
  /** Whether SeaBIOS (QEMU's default) can boot a BIOS disk on it. */
  bios: boolean;
  /** The guest's device for the test channel and the QEMU arguments that connect it to stdio. */
  channel: { device: string; args: string[] };
  /** Units the test copy masks: a getty systemd would start on the channel's device itself. */
  channelMasks: string[];
}

export const QEMU_MACHINES: Record<Architecture, QemuMachine> = {
  amd64: {
    binary: 'qemu-system-x86_64',
    hostPackage: 'qemu-system-x86',
    machine: ['-machine', 'q35', '-cpu', 'max'],
    // Ubuntu 24.04 ships the 4 MiB variable store only.
    uefiFirmware: [
      { code: '/usr/share/OVMF/OVMF_CODE.fd', vars: '/usr/share/OVMF/OVMF_VARS.fd' },
      { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
    ],
    uefiPackage: 'ovmf',
    bios: true,
    channel: { device: '/dev/ttyS1', args: ['-serial', 'stdio'] },
    channelMasks: [],
  },
  arm64: {
    binary: 'qemu-system-aarch64',
    hostPackage: 'qemu-system-arm',
    // Pointer authentication's QARMA costs TCG dearly; the kernel boots the same without it.
    machine: ['-machine', 'virt', '-cpu', 'max,pauth=off'],
    uefiFirmware: [{ code: '/usr/share/AAVMF/AAVMF_CODE.fd', vars: '/usr/share/AAVMF/AAVMF_VARS.fd' }],
    uefiPackage: 'qemu-efi-aarch64',
    bios: false,
    channel: {
      device: '/dev/hvc0',
      args: ['-device', 'virtio-serial-pci', '-chardev', 'stdio,id=channel', '-device', 'virtconsole,chardev=channel'],
    },
    // systemd's getty generator starts a login on hvc0 when it exists.
    channelMasks: ['serial-getty@hvc0.service'],
  },
};

export function qemuMachine(architecture: Architecture): QemuMachine {
  return QEMU_MACHINES[architecture];
}

export function findUefiFirmware(architecture: Architecture): FirmwarePair | undefined {
  return QEMU_MACHINES[architecture].uefiFirmware.find((pair) => existsSync(pair.code) && existsSync(pair.vars));
}

/**
 * QEMU's arguments for a disk of an architecture: the machine, the console (ttyS0 or the
 * PL011) to `consoleLog`, the test channel on stdio, user networking, the disk, and the
 * UEFI firmware's code and variable store when it boots by UEFI.
 */
export function qemuArgs(
  architecture: Architecture,
  options: { disk: string; consoleLog: string; firmware?: FirmwarePair; varsCopy?: string },
): string[] {
  const machine = QEMU_MACHINES[architecture];
  const args = [
    '-accel', 'tcg', ...machine.machine, '-smp', '2', '-m', '1024',
    '-display', 'none', '-monitor', 'none', '-nodefaults', '-no-reboot',
    '-serial', `file:${options.consoleLog}`, ...machine.channel.args,
    '-nic', 'user,model=virtio-net-pci',
    '-drive', `file=${options.disk},format=raw,if=virtio`,
  ];
  if (options.firmware && options.varsCopy) {
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${options.firmware.code}`, '-drive', `if=pflash,format=raw,unit=1,file=${options.varsCopy}`);
  }
  return args;
}

const CHANNEL_UNIT = 'tailor-image-test-channel.service';
const READY = 'TAILOR_TEST_CHANNEL_READY';

/**
 * The unit the test copy gets (and the stored disk never does): a root shell on the channel's
 * device (ttyS1; hvc0 on arm64), which QEMU connects to the gate's pipe. It starts with the
 * ordinary boot (multi-user.target) and does not delay it; the first-boot units run as they
 * will on a real machine.
 */
export function channelUnitText(device: string): string {
  return `[Unit]
Description=tailor-image test channel (only in the throwaway copy the gate boots)
After=systemd-remount-fs.service

[Service]
Type=simple
ExecStart=/bin/sh -c 'stty -echo -onlcr raw 2>/dev/null; echo ${READY}; exec /bin/sh'
StandardInput=tty-force
StandardOutput=tty
StandardError=tty
TTYPath=${device}
TTYReset=yes
# An interactive shell ignores SIGTERM: without this, power-off waits 90 s for it.
KillSignal=SIGKILL

[Install]
WantedBy=multi-user.target
`;
}

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
 * alone by the firmware the recipe names (OVMF or AAVMF for UEFI, SeaBIOS for BIOS) in the
 * machine of the image's architecture (QEMU_MACHINES). The disk booted is a throwaway copy
 * of the stored one with one addition, the test channel unit; the console (ttyS0, the PL011
 * on arm64) goes to a file whose last lines a failure shows; the machine is powered off
 * after the checks, its copy removed.
 */
export const qemuRuntime: TestRuntime = {
  name: 'qemu',
  boots: true,

  async unavailable(firmware, architecture) {
    const machine = QEMU_MACHINES[architecture];
    if (firmware === 'bios' && !machine.bios) return `no BIOS firmware for ${architecture} machines`;
    for (const tool of [machine.binary, 'debugfs', 'sfdisk', 'xz']) {
      if (!findOnPath(tool)) return `no ${tool} (apt-get install ${machine.hostPackage} e2fsprogs fdisk xz-utils)`;
    }
    if (firmware === 'uefi' && !findUefiFirmware(architecture)) {
      return `no ${architecture} UEFI firmware (${machine.uefiFirmware[0].code}: apt-get install ${machine.uefiPackage})`;
    }
    return undefined;
  },

  async start(input: StartInput): Promise<Guest> {
    const { log, scratchDir } = input;
    const { architecture } = input;
    const machine = QEMU_MACHINES[architecture];
    const disk = await throwawayDisk(input.artifact, scratchDir, log, input.signal);
    const offset = await rootPartitionOffset(disk, log);
    await writeIntoExt4(
      disk,
      offset,
      [{ path: `/etc/systemd/system/${CHANNEL_UNIT}`, content: channelUnitText(machine.channel.device), mode: 0o644 }],
      [
        { path: `/etc/systemd/system/multi-user.target.wants/${CHANNEL_UNIT}`, target: `/etc/systemd/system/${CHANNEL_UNIT}` },
        ...machine.channelMasks.map((unit) => ({ path: `/etc/systemd/system/${unit}`, target: '/dev/null' })),
      ],
      scratchDir,
      log,
    );
    const consoleLog = join(scratchDir, 'console.log');
    const firmware = input.firmware === 'uefi' ? findUefiFirmware(architecture) : undefined;
    const varsCopy = firmware ? join(scratchDir, 'UEFI_VARS.fd') : undefined;
    if (firmware && varsCopy) await copyFile(firmware.vars, varsCopy);
    const args = qemuArgs(architecture, { disk, consoleLog, firmware, varsCopy });
    log.debug(`$ ${machine.binary} ${args.join(' ')}`);
    const child = spawn(machine.binary, args, { stdio: ['pipe', 'pipe', 'pipe'], env: hostToolEnv() });
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
    const how = input.firmware === 'uefi' ? `UEFI (${architecture === 'amd64' ? 'OVMF' : 'AAVMF'})` : 'BIOS';
    log.info(`test: booting a throwaway copy of the disk under ${machine.binary} (TCG, ${how}); the channel is ${machine.channel.device.slice(5)}`);
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
