import { createHash } from 'node:crypto';
import { Enums, Models, Serialize, Spec } from '@cyclonedx/cyclonedx-library';
import { NOASSERTION } from './dep5-licence';
import { SbomSubject } from './subject';

/** Properties this builder adds to a component (CycloneDX names them freely; ours are prefixed). */
export const SOURCE_NAME_PROPERTY = 'tailor-image:deb:source';
export const SOURCE_VERSION_PROPERTY = 'tailor-image:deb:source-version';
export const ARCHITECTURE_PROPERTY = 'tailor-image:deb:architecture';

/** The version of CycloneDX written. */
const CYCLONEDX_SPEC = Spec.Spec1dot6;

/** A serial number that is the same for a rebuild of one image file: a UUID made from its name and sha256. */
function serialNumberOf(subject: SbomSubject): string {
  const hex = createHash('sha256').update(`${subject.imageName}\0${subject.sha256}`).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `urn:uuid:${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The image's CycloneDX BOM: the image file as the metadata component, every installed .deb a component of it. */
export function cyclonedxBom(subject: SbomSubject): Models.Bom {
  const bom = new Models.Bom({ serialNumber: serialNumberOf(subject) });
  bom.metadata.timestamp = subject.created;
  const [toolName, toolVersion] = splitTool(subject.tool);
  bom.metadata.tools.components.add(new Models.Component(Enums.ComponentType.Application, toolName, { version: toolVersion }));
  const image = new Models.Component(subject.buildType === 'docker' ? Enums.ComponentType.Container : Enums.ComponentType.OperatingSystem, subject.imageName, {
    bomRef: subject.imageName,
    supplier: new Models.OrganizationalEntity({ name: subject.organization }),
  });
  image.hashes.set(Enums.HashAlgorithm['SHA-256'], subject.sha256);
  image.properties.add(new Models.Property('tailor-image:file', subject.fileName));
  bom.metadata.component = image;
  for (const pkg of subject.packages) {
    const component = new Models.Component(Enums.ComponentType.Library, pkg.name, { version: pkg.version, purl: pkg.purl, bomRef: pkg.purl });
    if (pkg.licence !== NOASSERTION) component.licenses.add(new Models.LicenseExpression(pkg.licence));
    component.properties.add(new Models.Property(ARCHITECTURE_PROPERTY, pkg.architecture));
    component.properties.add(new Models.Property(SOURCE_NAME_PROPERTY, pkg.sourceName));
    component.properties.add(new Models.Property(SOURCE_VERSION_PROPERTY, pkg.sourceVersion));
    bom.components.add(component);
    image.dependencies.add(component.bomRef);
  }
  return bom;
}

/** The BOM as CycloneDX JSON text (sorted lists, so equal inputs give equal bytes). */
export function cyclonedxJson(subject: SbomSubject): string {
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(CYCLONEDX_SPEC));
  return `${serializer.serialize(cyclonedxBom(subject), { sortLists: true, space: 2 })}\n`;
}

function splitTool(tool: string): [string, string | undefined] {
  const at = tool.lastIndexOf('-');
  return at > 0 && /\d/.test(tool.slice(at + 1)) ? [tool.slice(0, at), tool.slice(at + 1)] : [tool, undefined];
}
