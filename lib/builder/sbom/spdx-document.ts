import { createHash } from 'node:crypto';
import { NOASSERTION } from './dep5-licence';
import { SbomSubject } from './subject';

// No well-kept JavaScript library writes SPDX 2.3 (spdx/tools-ts is not on the registry),
// so the document is written from this typed model of the parts used (SPDX 2.3, clause
// numbers in the comments).

interface SpdxChecksum {
  algorithm: 'SHA256';
  checksumValue: string;
}

interface SpdxExternalRef {
  referenceCategory: 'PACKAGE-MANAGER';
  referenceType: 'purl';
  referenceLocator: string;
}

/** 7: a package (here: the image, or one .deb). */
interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo?: string;
  packageFileName?: string;
  supplier?: string;
  downloadLocation: string;
  filesAnalyzed: false;
  checksums?: SpdxChecksum[];
  sourceInfo?: string;
  licenseConcluded: string;
  licenseDeclared: string;
  copyrightText: string;
  externalRefs?: SpdxExternalRef[];
  primaryPackagePurpose?: 'OPERATING-SYSTEM' | 'CONTAINER' | 'LIBRARY' | 'APPLICATION';
}

/** 11: how two elements relate. */
interface SpdxRelationship {
  spdxElementId: string;
  relationshipType: 'DESCRIBES' | 'CONTAINS';
  relatedSpdxElement: string;
}

/** 6: the document. */
export interface SpdxDocument {
  spdxVersion: 'SPDX-2.3';
  dataLicense: 'CC0-1.0';
  SPDXID: 'SPDXRef-DOCUMENT';
  name: string;
  documentNamespace: string;
  creationInfo: { created: string; creators: string[] };
  documentDescribes: string[];
  packages: SpdxPackage[];
  relationships: SpdxRelationship[];
}

const IMAGE_ID = 'SPDXRef-Image';

/** An SPDX identifier's idstring may hold letters, digits, "." and "-" only (3.2). */
function spdxId(prefix: string, ...parts: string[]): string {
  return `${prefix}-${parts.map((part) => part.replace(/[^A-Za-z0-9.-]/g, '-')).join('-')}`;
}

/** The document's namespace: unique to the image file it describes (its sha256), the same on a rebuild of it. */
function namespaceOf(subject: SbomSubject): string {
  const id = createHash('sha256').update(`${subject.imageName}\0${subject.sha256}`).digest('hex').slice(0, 32);
  return `https://tailor-image.invalid/spdx/${encodeURIComponent(subject.imageName)}-${id}`;
}

/** `2026-12-02T01:00:00Z`: SPDX wants seconds, no fraction (6.9). */
function spdxTime(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The image's SPDX 2.3 document: the image file, described, containing every installed .deb. */
export function spdxDocument(subject: SbomSubject): SpdxDocument {
  const image: SpdxPackage = {
    SPDXID: IMAGE_ID,
    name: subject.imageName,
    packageFileName: subject.fileName,
    supplier: `Organization: ${subject.organization}`,
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    checksums: [{ algorithm: 'SHA256', checksumValue: subject.sha256 }],
    licenseConcluded: NOASSERTION,
    licenseDeclared: NOASSERTION,
    copyrightText: NOASSERTION,
    primaryPackagePurpose: subject.buildType === 'docker' ? 'CONTAINER' : 'OPERATING-SYSTEM',
  };
  const debs: SpdxPackage[] = subject.packages.map((pkg) => ({
    SPDXID: spdxId('SPDXRef-Package-deb', pkg.name, pkg.architecture),
    name: pkg.name,
    versionInfo: pkg.version,
    ...(pkg.maintainer ? { supplier: `Person: ${pkg.maintainer.replace(/\n/g, ' ')}` } : {}),
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    sourceInfo: `built from source package ${pkg.sourceName} ${pkg.sourceVersion}`,
    licenseConcluded: NOASSERTION,
    licenseDeclared: pkg.licence,
    copyrightText: NOASSERTION,
    externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: pkg.purl }],
  }));
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: subject.imageName,
    documentNamespace: namespaceOf(subject),
    creationInfo: { created: spdxTime(subject.created), creators: [`Tool: ${subject.tool}`, `Organization: ${subject.organization}`] },
    documentDescribes: [IMAGE_ID],
    packages: [image, ...debs],
    relationships: [
      { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: IMAGE_ID },
      ...debs.map((deb): SpdxRelationship => ({ spdxElementId: IMAGE_ID, relationshipType: 'CONTAINS', relatedSpdxElement: deb.SPDXID })),
    ],
  };
}
