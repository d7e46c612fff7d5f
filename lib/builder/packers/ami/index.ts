import { UsageError } from '../../../core/errors';
import { quote } from '../../../core/message-text';
import { Packer } from '../packer';
import { bareMetalPacker } from '../disk';
import { packBareMetal } from '../disk/assemble';
import { parseSerialConsole } from '../disk/boot-config';
import { amiPackages } from './packages';
import { prepareAmiRootfs } from './prepare';

/**
 * ami: the bare-metal packer's GPT UEFI disk made EC2-ready (<image>.raw.xz, the raw disk an
 * EBS snapshot is made from): the cloud kernel with NVMe and ENA in the initramfs, cloud-init
 * on IMDSv2, the serial console on ttyS0, keys-only ssh, chrony on the Amazon Time Sync
 * Service; the root filesystem grows to the volume at first boot. The disk is assembled and
 * compressed by the bare-metal code; only the rootfs preparation adds to it.
 */
export const amiPacker: Packer = {
  buildType: 'ami',
  extension: 'raw.xz',
  indexKey: 'raw',

  hostTools(recipe) {
    return bareMetalPacker.hostTools(recipe);
  },

  rootfsPackages(recipe, distribution, architecture) {
    return amiPackages(recipe, distribution, architecture);
  },

  async verify(request) {
    await bareMetalPacker.verify(request);
    const { recipe } = request;
    if (recipe.boot.firmware !== 'uefi') {
      throw new UsageError(`recipe ${request.name}: build_type ami boots by UEFI only (boot.firmware is ${recipe.boot.firmware})`);
    }
    if (parseSerialConsole(recipe.boot.serial_console)?.device !== 'ttyS0') {
      throw new UsageError(
        `recipe ${request.name}: build_type ami needs boot.serial_console on ttyS0 (EC2's serial console and console output), not ${quote(recipe.boot.serial_console)}`,
      );
    }
  },

  prepareRootfs: prepareAmiRootfs,
  pack: packBareMetal,
};
