import { writeFile } from 'node:fs/promises';
import packageJson from '../../../package.json';
import { mainArtifact } from '../../core/image';
import { timestampToEpoch } from '../../core/naming';
import { Stage } from '../context';
import { cyclonedxJson } from '../sbom/cyclonedx-document';
import { imagePackages } from '../sbom/image-packages';
import { spdxDocument } from '../sbom/spdx-document';
import { SbomSubject } from '../sbom/subject';

/**
 * sbom: the image's SPDX 2.3 and CycloneDX 1.6 documents, from the dpkg database of its
 * rootfs. It runs after checksum, so each document names the image file by the sha256 that
 * `<image>.sha256` and the index hold; the documents are side files, not artifacts, and so
 * have no checksum files of their own (SHA256SUMS covers them where a release is signed).
 */
export const sbomStage: Stage = {
  name: 'sbom',

  describe: () => 'SPDX 2.3 + CycloneDX 1.6',

  verify() {
    // Reads the rootfs only.
  },

  async run(ctx) {
    const { request } = ctx;
    const image = mainArtifact({ imageName: request.imageName, artifacts: ctx.artifacts });
    const subject: SbomSubject = {
      imageName: request.imageName,
      fileName: image.fileName,
      sha256: image.sha256,
      buildType: request.recipe.build_type,
      organization: request.organization,
      created: new Date(timestampToEpoch(request.timestamp) * 1000),
      tool: `tailor-image-${packageJson.version}`,
      packages: await imagePackages(ctx.rootfs, request.distribution),
    };
    await writeFile(ctx.spdxPath, `${JSON.stringify(spdxDocument(subject), null, 2)}\n`);
    await writeFile(ctx.cyclonedxPath, cyclonedxJson(subject));
    ctx.log.info(`SBOM: ${subject.packages.length} packages (${subject.packages.filter((p) => p.licence !== 'NOASSERTION').length} with a machine-readable licence)`);
  },
};
