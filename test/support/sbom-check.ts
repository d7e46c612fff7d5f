import { Spec, Validation } from '@cyclonedx/cyclonedx-library';

/**
 * Checks an image's SBOM documents in tests. CycloneDX: the official JSON schema the
 * CycloneDX library ships (its JsonStrictValidator, ajv underneath). SPDX 2.3: no package
 * on the npm registry or in Debian ships the official JSON schema, so the checks here are
 * the document's required fields and rules from the SPDX 2.3 specification, written down.
 */
export async function cyclonedxSchemaErrors(text: string): Promise<string | null> {
  const error = await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(text);
  return error === null ? null : JSON.stringify(error.details ?? error.message).slice(0, 2000);
}

interface SpdxLike {
  spdxVersion?: unknown;
  dataLicense?: unknown;
  SPDXID?: unknown;
  name?: unknown;
  documentNamespace?: unknown;
  creationInfo?: { created?: unknown; creators?: unknown };
  packages?: { SPDXID?: unknown; name?: unknown; downloadLocation?: unknown; versionInfo?: unknown; externalRefs?: { referenceLocator?: unknown }[]; checksums?: unknown[] }[];
  relationships?: { spdxElementId?: unknown; relationshipType?: unknown; relatedSpdxElement?: unknown }[];
}

/** What is wrong with an SPDX 2.3 JSON document, by the specification's required fields; [] when nothing. */
export function spdxProblems(doc: SpdxLike): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, what: string) => ok || problems.push(what);
  need(doc.spdxVersion === 'SPDX-2.3', 'spdxVersion is not SPDX-2.3');
  need(doc.dataLicense === 'CC0-1.0', 'dataLicense is not CC0-1.0');
  need(doc.SPDXID === 'SPDXRef-DOCUMENT', 'SPDXID is not SPDXRef-DOCUMENT');
  need(typeof doc.name === 'string' && doc.name.length > 0, 'no name');
  need(typeof doc.documentNamespace === 'string' && /^[a-z][a-z0-9+.-]*:[^#\s]+$/i.test(doc.documentNamespace), 'documentNamespace is not a URI without #');
  need(typeof doc.creationInfo?.created === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(doc.creationInfo.created), 'creationInfo.created is not YYYY-MM-DDThh:mm:ssZ');
  need(Array.isArray(doc.creationInfo?.creators) && (doc.creationInfo.creators as unknown[]).every((c) => typeof c === 'string' && /^(Person|Organization|Tool): /.test(c)), 'creators malformed');
  const ids = new Set<string>(['SPDXRef-DOCUMENT']);
  for (const [i, pkg] of (doc.packages ?? []).entries()) {
    need(typeof pkg.SPDXID === 'string' && /^SPDXRef-[A-Za-z0-9.-]+$/.test(pkg.SPDXID), `packages[${i}].SPDXID malformed`);
    need(!ids.has(pkg.SPDXID as string), `packages[${i}].SPDXID not unique`);
    ids.add(pkg.SPDXID as string);
    need(typeof pkg.name === 'string' && pkg.name.length > 0, `packages[${i}] has no name`);
    need(typeof pkg.downloadLocation === 'string', `packages[${i}] has no downloadLocation`);
  }
  need((doc.relationships ?? []).some((r) => r.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES'), 'the document DESCRIBES nothing');
  for (const [i, r] of (doc.relationships ?? []).entries()) {
    need(ids.has(r.spdxElementId as string) && ids.has(r.relatedSpdxElement as string), `relationships[${i}] names an unknown element`);
  }
  return problems;
}

/** `name version arch` per package, sorted: what the SPDX document lists besides the image. */
export function spdxPackageList(doc: SpdxLike): string[] {
  return (doc.packages ?? [])
    .filter((pkg) => pkg.SPDXID !== 'SPDXRef-Image')
    .map((pkg) => `${pkg.name} ${pkg.versionInfo} ${/[?&]arch=([^&]+)/.exec(String(pkg.externalRefs?.[0]?.referenceLocator))?.[1]}`)
    .sort();
}

interface CdxLike {
  components?: { name: string; version?: string; properties?: { name: string; value: string }[] }[];
}

/** `name version arch` per component, sorted. */
export function cyclonedxPackageList(bom: CdxLike): string[] {
  return (bom.components ?? []).map((c) => `${c.name} ${c.version} ${c.properties?.find((p) => p.name === 'tailor-image:deb:architecture')?.value}`).sort();
}
