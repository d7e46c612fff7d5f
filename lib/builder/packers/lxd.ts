import { cpus } from 'node:os';
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { stringify } from 'yaml';
import { architectureNames } from '../../core/architecture';
import { run } from '../../core/exec';
import { timestampToEpoch } from '../../core/naming';
import { hostToolEnv } from '../command-env';
import { sourceDateEpoch } from '../source-date';
import { REPRODUCIBLE_PIGZ_ARGS, deterministicTarFlags } from './reproducible-tar';
import { PackInput, Packer } from './packer';

/**
 * lxd: a unified LXD/Incus image, `<image_name>.tar.gz` holding metadata.yaml, templates/
 * and rootfs/. Templates give each container its own /etc/hostname and /etc/hosts.
 */
export const lxdPacker: Packer = {
  buildType: 'lxd',
  extension: 'tar.gz',
  indexKey: 'raw',

  hostTools: () => [
    { command: 'tar', package: 'tar' },
    { command: 'pigz', package: 'pigz' },
  ],

  rootfsPackages: () => [],

  verify: () => undefined,

  async pack(input: PackInput) {
    const { request } = input;
    const metaDir = join(input.scratchDir, 'lxd');
    await mkdir(join(metaDir, 'templates'), { recursive: true });
    await writeFile(join(metaDir, 'metadata.yaml'), lxdMetadata(input));
    await writeFile(join(metaDir, 'templates', 'hostname.tpl'), '{{ container.name }}\n');
    await writeFile(
      join(metaDir, 'templates', 'hosts.tpl'),
      '127.0.0.1\tlocalhost\n127.0.1.1\t{{ container.name }}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n',
    );
    const output = join(input.stagingDir, `${request.imageName}.tar.gz`);
    const epoch = sourceDateEpoch(request);
    // The files written here carry the build time, like the (clamped) rootfs beside them.
    for (const path of ['metadata.yaml', 'templates', 'templates/hostname.tpl', 'templates/hosts.tpl']) {
      await utimes(join(metaDir, path), epoch, epoch);
    }
    // The rootfs directory is always called "rootfs", which is what LXD expects.
    const rootParent = dirname(input.rootfs);
    const rootName = basename(input.rootfs);
    await run(
      'tar',
      [
        '--create',
        `--file=${output}`,
        `--use-compress-program=pigz ${REPRODUCIBLE_PIGZ_ARGS.join(' ')} -p ${Math.max(1, cpus().length)}`,
        // No --sparse: how tar finds holes depends on the filesystem's allocation at that
        // moment, and two builds of one tree gave two archives with it.
        ...deterministicTarFlags(epoch, { xattrs: 'all' }),
        '--directory', metaDir, 'metadata.yaml', 'templates',
        '--directory', rootParent,
        rootName,
      ],
      { log: input.log, signal: input.signal, env: hostToolEnv(), describe: 'tar | pigz (lxd image)' },
    );
    return [{ path: output, role: 'image' as const }];
  },
};

/** The metadata LXD reads on import; properties are what `lxc image info` shows. */
export function lxdMetadata(input: Pick<PackInput, 'request'>): string {
  const { request } = input;
  const { recipe, distribution } = request;
  const created = timestampToEpoch(request.timestamp);
  const hostnameTemplate = { when: ['create', 'copy'], create_only: false, template: 'hostname.tpl', properties: {} };
  return stringify(
    {
    architecture: architectureNames(request.architecture).kernel,
    creation_date: created,
    properties: {
      architecture: architectureNames(request.architecture).debian,
      description: recipe.description || `${request.name} (${distribution.os} ${distribution.codename})`,
      os: distribution.os,
      release: distribution.codename,
      version: distribution.version,
      name: request.imageName,
      serial: request.timestamp,
      variant: 'default',
      'tailor.name': request.name,
      'tailor.release_label': request.releaseLabel,
    },
    templates: {
      '/etc/hostname': hostnameTemplate,
      '/etc/hosts': { ...hostnameTemplate, template: 'hosts.tpl' },
    },
    },
    { aliasDuplicateObjects: false },
  );
}
