import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runCreateImage, REPO_ROOT, CliResult } from '../support/cli';
import { ImdsStandIn } from '../support/imds';
import { describeWith, rootUser, tool, Prerequisite } from '../support/prereq';
import { SerialVm, haveOvmf } from '../support/qemu';
import { freePort } from '../support/registry';
import { fileDigests } from '../support/tree';

/**
 * ami end to end: the tailor rosdistro fixture's AMI image (build_type ami, with a
 * source_ami) built from the Debian mirror into local storage, then its disk booted alone
 * under QEMU (TCG, OVMF) as an EC2 machine would boot it: SMBIOS saying Amazon EC2 (the
 * product UUID and serial starting with "ec2", which is how cloud-init knows it is on AWS)
 * and an IMDSv2-only metadata stand-in at 169.254.169.254 (QEMU's user network forwards it
 * to loopback). cloud-init must take the stand-in's key pair, host name and user data; the
 * key's private half logs in over ssh, a password never does.
 */

const execFileAsync = promisify(execFile);
const TIMESTAMP = '20261202.013000';
const ROSDISTRO = join(REPO_ROOT, 'test', 'fixtures', 'rosdistro');
const IMAGE_NAME = `locus_legacy-ami_bookworm_hotdog-20.4_${TIMESTAMP}`;
const MINUTE = 60_000;
const BUILD_TIMEOUT = 45 * MINUTE;
/** A TCG boot with cloud-init (Python) to a working ssh login on a shared 2-core machine. */
const BOOT_TIMEOUT = 15 * MINUTE;

const ovmf: Prerequisite = { what: 'OVMF firmware (apt-get install ovmf)', check: haveOvmf };

/** An EC2-style SMBIOS UUID: "ec2" and 29 more hex digits, as a UUID. */
function ec2Uuid(): string {
  const hex = `ec2${randomBytes(16).toString('hex')}`.slice(0, 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

describeWith(
  'ami: the rosdistro AMI builds, and its disk boots under QEMU as an EC2 machine taking key, host name and user data from IMDSv2',
  [rootUser(), tool('mmdebstrap'), tool('xz', 'xz-utils'), tool('sfdisk', 'fdisk'), tool('mkfs.vfat', 'dosfstools'),
    tool('mcopy', 'mtools'), tool('qemu-system-x86_64', 'qemu-system-x86'), tool('qemu-img', 'qemu-utils'),
    tool('ssh', 'openssh-client'), tool('ssh-keygen', 'openssh-client'), ovmf],
  () => {
    const work = mkdtempSync('/var/tmp/tailor-ami-test-');
    const store = join(work, 'store');
    const images = join(store, 'hotdog-20.4', 'images');
    let build: Promise<CliResult>;
    const cleanups: (() => Promise<void>)[] = [];

    beforeAll(() => {
      build = runCreateImage(
        ['--name', 'legacy-ami', '--distribution', 'bookworm', '--rosdistro-path', ROSDISTRO, '--no-bundle',
          '--local-storage', '--local-storage-path', store, '--timestamp', TIMESTAMP, '--json'],
        { timeoutMs: BUILD_TIMEOUT },
      );
    });

    afterAll(async () => {
      await Promise.allSettled(cleanups.map((cleanup) => cleanup()));
      await Promise.allSettled([build]);
      rmSync(work, { recursive: true, force: true });
    }, 5 * MINUTE);

    test('create_image builds it into local storage: the .raw.xz under raw with build_type ami, md5 and sha256; source_ami is one warning', async () => {
      const built = await build;
      expect(built.stderr).not.toMatch(/error:/);
      expect(built.code).toBe(0);
      const warnings = built.stderr.split('\n').filter((line) => /source_ami/.test(line));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/warn.*image "legacy-ami": source_ami \(given for "focal"\) is not used: build_type ami makes the disk from the distribution/i);
      const summary = JSON.parse(built.stdout);
      expect(summary).toMatchObject({ image_name: IMAGE_NAME, build_type: 'ami', storage: 'local' });
      const file = join(images, `${IMAGE_NAME}.raw.xz`);
      const digests = fileDigests(file);
      const index = JSON.parse(readFileSync(join(images, 'index.json'), 'utf8'));
      expect(index[TIMESTAMP].raw['legacy-ami'].bookworm).toMatchObject({
        file: IMAGE_NAME, checksum: digests.md5, sha256: digests.sha256, build_type: 'ami', artifact: `${IMAGE_NAME}.raw.xz`,
      });
      expect(readFileSync(join(images, `${IMAGE_NAME}.md5`), 'utf8')).toBe(`${digests.md5}  ${IMAGE_NAME}.raw.xz\n`);
      expect(readFileSync(join(images, `${IMAGE_NAME}.sha256`), 'utf8')).toBe(`${digests.sha256}  ${IMAGE_NAME}.raw.xz\n`);
      expect(readFileSync(join(images, `${IMAGE_NAME}.manifest`), 'utf8')).toMatch(/^cloud-init\t/m);
    }, BUILD_TIMEOUT);

    test('booted as EC2 with an IMDSv2-only stand-in: key, host name and user data taken; ssh by key works, by password is refused', async () => {
      const built = await build;
      expect(built.code).toBe(0);
      // The disk as written to a bigger EBS volume.
      const disk = join(work, 'volume.raw');
      execFileSync('sh', ['-c', 'xz -dc -T0 -- "$1" > "$2"', 'sh', join(images, `${IMAGE_NAME}.raw.xz`), disk]);
      const originalSize = statSync(disk).size;
      execFileSync('qemu-img', ['resize', '-q', '-f', 'raw', disk, '+1G']);

      const key = join(work, 'launch-key');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tailor-ami-test', '-f', key]);
      const publicKey = readFileSync(`${key}.pub`, 'utf8').trim();
      const host = `tailor-ami-${randomBytes(3).toString('hex')}`;
      const marker = randomBytes(8).toString('hex');
      const imds = await ImdsStandIn.start(
        {
          instanceId: 'i-0123456789abcdef0',
          localHostname: `${host}.ec2.internal`,
          keyName: 'tailor-ami-test',
          publicKey,
          userData: `#cloud-config\nwrite_files:\n  - path: /var/lib/tailor-ami-test/user-data\n    content: "${marker}"\n`,
        },
        work,
      );
      cleanups.push(() => imds.stop());
      const sshPort = await freePort();
      const uuid = ec2Uuid();
      const vm = SerialVm.boot({
        disk,
        firmware: 'uefi',
        workDir: work,
        // 169.254.169.254 must lie inside the user network for QEMU to forward it.
        nic: `user,model=virtio-net-pci,net=169.254.169.0/24,host=169.254.169.2,hostfwd=tcp:127.0.0.1:${sshPort}-:22,` +
          `guestfwd=tcp:169.254.169.254:80-cmd:${imds.relayCommand()}`,
        smbios: [`type=1,manufacturer=Amazon EC2,product=t3.micro,serial=${uuid},uuid=${uuid}`],
      });
      cleanups.push(() => vm.stop());

      const sshBase = ['-p', String(sshPort), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
        '-o', 'ConnectTimeout=30', '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes'];
      const ssh = (command: string) =>
        execFileAsync('ssh', ['-i', key, '-o', 'IdentitiesOnly=yes', ...sshBase, 'debian@127.0.0.1', command], { encoding: 'utf8', timeout: 5 * MINUTE });

      try {
        // The getty on ttyS0 (EC2's serial console) comes up.
        await vm.waitFor(/\S login: /, BOOT_TIMEOUT);
        // The key works once cloud-init has put it in place.
        const deadline = Date.now() + BOOT_TIMEOUT;
        for (;;) {
          try {
            await ssh('true');
            break;
          } catch (error) {
            if (Date.now() > deadline) throw new Error(`no ssh login with the launch key: ${(error as Error).message}\n${vm.transcript().slice(-3000)}`);
            await new Promise((resolve) => setTimeout(resolve, 5000));
          }
        }
        const out = async (command: string) => (await ssh(command)).stdout.trim();
        // Done, and no module failed (status: error otherwise, with the failures listed).
        expect(await out('cloud-init status --wait --long; true')).toMatch(/^status: done$/m);
        expect(await out('cloud-id')).toBe('aws');
        expect(await out('hostname')).toBe(host);
        expect(await out('cat /var/lib/tailor-ami-test/user-data')).toBe(marker);
        expect(await out('cat ~/.ssh/authorized_keys')).toContain(publicKey);
        // The guest's own read without a token is refused: IMDSv1 does not work here.
        expect(await out("curl -s -o /dev/null -w '%{http_code}' http://169.254.169.254/latest/meta-data/instance-id")).toBe('401');

        expect(await out('uname -r')).toMatch(/-cloud-amd64$/);
        // Each driver is in the initramfs or built into the kernel (Debian's cloud kernel builds nvme in).
        const drivers = await out(
          'v=$(uname -r); for d in nvme ena; do if lsinitramfs /boot/initrd.img-$v | grep -qE "/$d\\.ko"; then echo "$d initramfs"; ' +
            'elif grep -qE "/$d\\.ko$" /lib/modules/$v/modules.builtin; then echo "$d built-in"; else echo "$d missing"; fi; done',
        );
        expect(drivers).toMatch(/^nvme (initramfs|built-in)\nena (initramfs|built-in)$/);
        expect(await out('cat /proc/cmdline')).toMatch(/ console=ttyS0,115200n8( |$)/);
        expect(await out('systemctl is-active serial-getty@ttyS0.service')).toBe('active');
        expect(await out('sudo sshd -T | grep -E "^(passwordauthentication|kbdinteractiveauthentication) " | sort')).toBe(
          'kbdinteractiveauthentication no\npasswordauthentication no',
        );
        expect(await out('sudo passwd -S root | cut -d" " -f2')).toBe('L');
        expect(await out('chronyc -n sources')).toMatch(/169\.254\.169\.123/);
        // The root filesystem grew to the bigger volume at first boot.
        expect(await out('for i in $(seq 120); do test -e /var/lib/tailor-image/root-grown && break; sleep 1; done; findmnt -n -o SOURCE /')).toBe('/dev/vda2');
        expect(Number(await out('df -B1 --output=size / | tail -n 1'))).toBeGreaterThan(originalSize);
        expect(await out('systemctl --failed --no-legend --plain | cat')).toBe('');

        // A password is never asked for: the server offers public keys only.
        const refused = await execFileAsync(
          'ssh', [...sshBase, '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password,keyboard-interactive', 'debian@127.0.0.1', 'true'],
          { encoding: 'utf8', timeout: MINUTE },
        ).then(() => undefined, (error: { code?: number; stderr?: string }) => error);
        expect(refused?.code).toBe(255);
        expect(refused?.stderr).toMatch(/Permission denied \(publickey\)/);

        // cloud-init used IMDSv2: it took a token, and every read it made carried one.
        const puts = imds.requests.filter((r) => r.method === 'PUT' && r.path === '/latest/api/token' && r.status === 200);
        expect(puts.length).toBeGreaterThan(0);
        const reads = imds.requests.filter((r) => r.method === 'GET');
        expect(reads.filter((r) => r.status === 200).map((r) => r.path)).toEqual(expect.arrayContaining([
          expect.stringMatching(/\/meta-data\/public-keys\/0\/openssh-key$/),
          expect.stringMatching(/\/meta-data\/local-hostname$/),
          expect.stringMatching(/\/user-data$/),
        ]));
        // The one read without a token was the test's own curl above.
        expect(reads.filter((r) => r.token !== 'valid')).toEqual([
          { method: 'GET', path: '/latest/meta-data/instance-id', token: 'none', status: 401 },
        ]);
      } catch (error) {
        const problems = await ssh('sudo grep -E "WARNING|ERROR|Traceback" /var/log/cloud-init.log | tail -n 30; systemctl --failed --no-legend --plain | cat')
          .then((r) => r.stdout, (e: Error) => `(no ssh: ${e.message})`);
        throw new Error(`${(error as Error).message}\ncloud-init's warnings and failed units:\n${problems}\nIMDS requests: ${JSON.stringify(imds.requests.slice(-40))}\nconsole tail:\n${vm.transcript().slice(-4000)}`);
      } finally {
        await vm.stop();
      }
    }, BUILD_TIMEOUT + BOOT_TIMEOUT);
  },
);
