import { existsSync } from 'node:fs';
import { open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BuildError } from '../../../core/errors';
import { hostToolEnv } from '../../command-env';
import { run } from '../../../core/exec';
import { PackInput, PackedFile } from '../packer';
import { compressXz, XZ_SETTINGS } from './compress';
import { byteProgressOf } from '../../../core/progress';
import { grubMbr, placedCoreImage } from './grub-bios';
import { DiskIds, diskIds } from './identifiers';
import { DiskLayout, RootfsUsage, SECTOR, planDisk, sfdiskScript } from './layout';
import { grubImagePath } from './prepare';
import { Rootfs } from '../../rootfs-path';
import { sourceDateEnvOf, sourceDateEpoch } from '../../source-date';
import { setInodeTimes } from './inode-times';
import { diskArchitecture } from './architectures';

/**
 * ext4 features every target reads (bookworm's, jammy's and noble's e2fsck and GRUB): the
 * bookworm defaults, pinned so a newer host's mke2fs (orphan_file, ...) cannot make a root
 * filesystem an older distribution refuses at boot.
 */
const MKE2FS_CONF = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384

[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
`;

/** How much the rootfs holds, as ext4 will need to store it. */
export async function measureRootfs(input: PackInput): Promise<RootfsUsage> {
  const opts = { log: input.log, signal: input.signal, capture: true, env: hostToolEnv() };
  const bytes = await run('du', ['-s', '-x', '-B1', input.rootfs], { ...opts, describe: 'du (rootfs size)' });
  const inodes = await run('du', ['-s', '-x', '--inodes', input.rootfs], { ...opts, describe: 'du (rootfs inodes)' });
  return { bytes: Number(bytes.stdout.split(/\s/)[0]), inodes: Number(inodes.stdout.split(/\s/)[0]) };
}

/**
 * The GPT disk, assembled in a file without loop devices or mounts: sfdisk writes the
 * table, mkfs.vfat + mtools and mkfs.ext4 -d write the filesystems straight into the file
 * at their partitions' offsets, GRUB's images are written at theirs; then xz.
 */
export async function packBareMetal(input: PackInput): Promise<PackedFile[]> {
  const { request, log } = input;
  const { recipe } = request;
  const ids = diskIds(request.imageName);
  const usage = await measureRootfs(input);
  const layout = planDisk(usage, recipe.boot.firmware, recipe.disk_size, ids, request.name, request.architecture);
  log.info(
    `disk ${Math.round(layout.totalBytes / 2 ** 20)} MiB (${recipe.boot.firmware}): ` +
      `${Math.round(usage.bytes / 2 ** 20)} MiB of files in a ${Math.round(layout.root.size / 2 ** 20)} MiB root filesystem`,
  );
  const grubImage = grubImagePath(input.rootfs, layout.firmware, request.architecture);
  if (!existsSync(grubImage)) throw new BuildError(`bare_metal: ${grubImage} is missing (prepareRootfs did not run?)`);

  const raw = join(input.scratchDir, `${request.imageName}.raw`);
  await writeFile(raw, '');
  await truncate(raw, layout.totalBytes);
  await writePartitionTable(input, raw, layout, ids);
  if (layout.firmware === 'uefi') await writeEsp(input, raw, layout, ids, grubImage);
  else await writeBiosBoot(input, raw, layout, grubImage);
  await writeRootFilesystem(input, raw, layout, ids);

  const image = join(input.stagingDir, `${request.imageName}.raw.xz`);
  log.info(`compressing the disk with xz ${XZ_SETTINGS.join(' ')}`);
  await compressXz(raw, image, input.signal, byteProgressOf(log, `xz ${basename(raw)}`));
  await rm(raw, { force: true });
  return [{ path: image, role: 'image' }];
}

async function writePartitionTable(input: PackInput, raw: string, layout: DiskLayout, ids: DiskIds): Promise<void> {
  await run('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', raw], {
    log: input.log,
    signal: input.signal,
    input: sfdiskScript(layout, ids.diskUuid),
    describe: 'sfdisk (partition table)',
  });
}

async function writeEsp(input: PackInput, raw: string, layout: DiskLayout, ids: DiskIds, grubEfi: string): Promise<void> {
  const opts = { log: input.log, signal: input.signal };
  const esp = layout.boot;
  await run(
    'mkfs.vfat',
    // --invariant: no clock time in the boot sector or the label's entry (the volume id is -i's).
    ['--invariant', '-F', '32', '-S', String(SECTOR), '-s', '1', '--offset', String(esp.offset / SECTOR), '-i', ids.espVolumeId, '-n', 'ESP', raw, String(esp.size / 1024)],
    { ...opts, describe: 'mkfs.vfat (ESP)' },
  );
  const image = `${raw}@@${esp.offset}`;
  // mtools dates the entries it makes SOURCE_DATE_EPOCH.
  const env = hostToolEnv({ MTOOLS_SKIP_CHECK: '1', ...sourceDateEnvOf(input.request) });
  await run('mmd', ['-i', image, '::/EFI', '::/EFI/BOOT'], { ...opts, env, describe: 'mmd (ESP)' });
  const bootFile = diskArchitecture(input.request.architecture).efiBootFile;
  await run('mcopy', ['-i', image, grubEfi, `::/EFI/BOOT/${bootFile}`], { ...opts, env, describe: 'mcopy (GRUB into the ESP)' });
}

async function writeBiosBoot(input: PackInput, raw: string, layout: DiskLayout, coreImgPath: string): Promise<void> {
  const bootImgPath = new Rootfs(input.rootfs).resolve('/usr/lib/grub/i386-pc/boot.img');
  if (!existsSync(bootImgPath)) throw new BuildError('bare_metal: the rootfs has no /usr/lib/grub/i386-pc/boot.img (grub-pc-bin)');
  const coreSector = layout.boot.offset / SECTOR;
  const core = placedCoreImage(await readFile(coreImgPath), coreSector, layout.boot.size);
  const file = await open(raw, 'r+');
  try {
    const mbr = Buffer.alloc(SECTOR);
    await file.read(mbr, 0, SECTOR, 0);
    await file.write(grubMbr(mbr, await readFile(bootImgPath), coreSector), 0, SECTOR, 0);
    await file.write(core, 0, core.length, layout.boot.offset);
  } finally {
    await file.close();
  }
}

async function writeRootFilesystem(input: PackInput, raw: string, layout: DiskLayout, ids: DiskIds): Promise<void> {
  const config = join(input.scratchDir, 'mke2fs.conf');
  await writeFile(config, MKE2FS_CONF);
  const root = layout.root;
  await run(
    'mkfs.ext4',
    [
      '-F', '-q',
      '-L', 'root',
      '-U', ids.rootFsUuid,
      '-N', String(layout.rootInodes),
      '-E', `offset=${root.offset},nodiscard,hash_seed=${ids.rootFsUuid}`,
      '-d', input.rootfs,
      raw,
      `${root.size / 1024}k`,
    ],
    {
      log: input.log,
      signal: input.signal,
      env: hostToolEnv({ MKE2FS_CONFIG: config, ...sourceDateEnvOf(input.request) }),
      describe: 'mkfs.ext4 -d (root filesystem)',
    },
  );
  const inodes = await setInodeTimes(input, raw, root.offset, sourceDateEpoch(input.request));
  input.log.debug(`root filesystem: atime and ctime of ${inodes} inodes set to SOURCE_DATE_EPOCH`);
}
