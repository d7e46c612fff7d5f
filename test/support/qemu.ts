import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Architecture } from '../../lib/core/architecture';
import { QEMU_MACHINES } from '../../lib/builder/image-tests/qemu';

/**
 * Boots a disk image under QEMU (TCG: KVM hangs on these machines) from the disk alone, with
 * the serial console on a pipe, and talks to it like a person at a serial terminal: wait for
 * the login prompt, log in, run commands and read what they print.
 */

/** The UEFI firmware each machine boots with: OVMF (q35), AAVMF (virt), as Debian ships them. */
function uefiFirmware(architecture: Architecture): { code: string; vars: string } {
  return QEMU_MACHINES[architecture].uefiFirmware[0];
}

export interface BootOptions {
  disk: string;
  firmware: 'uefi' | 'bios';
  /** The machine: amd64 (q35, default) or arm64 (virt, with AAVMF; its console is the PL011). */
  architecture?: Architecture;
  /** Holds this VM's copy of the UEFI variable store. */
  workDir: string;
  memoryMiB?: number;
  /** Disk image format for -drive (default raw). */
  format?: 'raw' | 'qcow2';
  /** The -nic setting (default: user networking on a virtio NIC). */
  nic?: string;
  /** -smbios settings, e.g. "type=1,manufacturer=Amazon EC2,...". */
  smbios?: string[];
}

export class SerialVm {
  private output = '';
  /** Where the next wait starts reading. */
  private cursor = 0;
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private counter = 0;
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8').replace(/\r/g, '')));
    child.stderr.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8').replace(/\r/g, '')));
    child.on('exit', (code, signal) => (this.exited = { code, signal }));
  }

  static boot(options: BootOptions): SerialVm {
    const architecture = options.architecture ?? 'amd64';
    const machine = QEMU_MACHINES[architecture];
    const args = [
      '-accel', 'tcg',
      ...machine.machine,
      '-smp', '2',
      '-m', String(options.memoryMiB ?? 1024),
      '-display', 'none',
      '-monitor', 'none',
      '-serial', 'stdio',
      '-nic', options.nic ?? 'user,model=virtio-net-pci',
      ...(options.smbios ?? []).flatMap((setting) => ['-smbios', setting]),
      '-no-reboot',
      '-drive', `file=${options.disk},format=${options.format ?? 'raw'},if=virtio`,
    ];
    if (options.firmware === 'uefi') {
      const uefi = uefiFirmware(architecture);
      const vars = join(options.workDir, `UEFI_VARS.${process.pid}.${Date.now()}.fd`);
      copyFileSync(uefi.vars, vars);
      args.push(
        '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${uefi.code}`,
        '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
      );
    }
    const child = spawn(machine.binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    return new SerialVm(child);
  }

  /** Everything the console printed so far (for failure messages). */
  transcript(): string {
    return this.output;
  }

  /** Waits until the console prints something matching `pattern` after the cursor; moves past it. */
  async waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rest = this.output.slice(this.cursor);
      const match = new RegExp(pattern.source, pattern.flags.replace('g', '')).exec(rest);
      if (match) {
        this.cursor += match.index + match[0].length;
        return match;
      }
      if (this.exited) {
        throw new Error(`QEMU exited (${this.exited.code ?? this.exited.signal}) before ${pattern}; console tail:\n${this.output.slice(-3000)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${pattern}; console tail:\n${this.output.slice(-3000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  type(text: string): void {
    this.child.stdin.write(text);
  }

  /** Waits for the getty, logs in, and leaves a plain shell with a known prompt. */
  async login(user: string, password: string, timeoutMs = 600_000): Promise<void> {
    // Kernel messages may land on the prompt's line: match the prompt itself, not a line end.
    await this.waitFor(/\S login: /, timeoutMs);
    // Boot messages may still be arriving: give them a moment, then answer the prompt.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    this.type(`${user}\n`);
    await this.waitFor(/Password: ?$/m, 60_000);
    this.type(`${password}\n`);
    await this.waitFor(/\$ $|# $/m, 120_000);
    this.type("export PS1='$ ' TERM=dumb; stty -echo cols 500; unset PROMPT_COMMAND\n");
    await this.run('true', 60_000);
  }

  /**
   * Runs a shell command and returns what it printed and its exit status. The markers are
   * split by empty quotes so the terminal's echo of the command line never matches them.
   */
  async run(command: string, timeoutMs = 120_000): Promise<{ output: string; status: number }> {
    const id = `${process.pid}x${++this.counter}`;
    this.type(`echo __BEG""IN_${id}__; ${command}; echo __E""ND_${id}__$?\n`);
    await this.waitFor(new RegExp(`__BEGIN_${id}__\\n`), timeoutMs);
    const start = this.cursor;
    const end = await this.waitFor(new RegExp(`__END_${id}__(\\d+)\\n`), timeoutMs);
    const output = this.output.slice(start, this.cursor - end[0].length);
    // The kernel prints on the same serial console (e.g. ext4's resize messages after the
    // root grows): its "[   12.345678] ..." lines are not the command's output.
    const own = output.split('\n').filter((line) => !/^\r?\[\s*\d+\.\d+\] /.test(line)).join('\n');
    return { output: own.trim(), status: Number(end[1]) };
  }

  /** Runs a command that must succeed; returns its output. */
  async check(command: string, timeoutMs = 120_000): Promise<string> {
    const { output, status } = await this.run(command, timeoutMs);
    if (status !== 0) throw new Error(`"${command}" failed in the VM (exit ${status}): ${output}`);
    return output;
  }

  /** Stops the VM (a throwaway copy: no clean shutdown needed). */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await gone;
  }
}

export function haveOvmf(): boolean {
  return haveUefiFirmware('amd64');
}

/** Whether the UEFI firmware for the architecture's machine is installed (AAVMF: qemu-efi-aarch64). */
export function haveUefiFirmware(architecture: Architecture): boolean {
  const { code, vars } = uefiFirmware(architecture);
  return existsSync(code) && existsSync(vars);
}
