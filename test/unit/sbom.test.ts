import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installedPackages, parseDeb822 } from '../../lib/builder/sbom/dpkg-status';
import { licenceOfCopyright, NOASSERTION, spdxExpressionOf } from '../../lib/builder/sbom/dep5-licence';
import { debPurl, imagePackages } from '../../lib/builder/sbom/image-packages';
import { spdxDocument } from '../../lib/builder/sbom/spdx-document';
import { cyclonedxJson } from '../../lib/builder/sbom/cyclonedx-document';
import { SbomSubject } from '../../lib/builder/sbom/subject';
import { cyclonedxPackageList, cyclonedxSchemaErrors, spdxPackageList, spdxProblems } from '../support/sbom-check';

const STATUS = `Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: libc6
Status: install ok installed
Architecture: i386
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Source: bash (5.2.15-2)

Package: half
Status: install reinstreq half-installed
Architecture: all
Version: 3
`;

const DEP5 = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: example
Source: https://example.org/

Files: *
Copyright: 2001 Someone
License: GPL-2+
 This program is free software; you can redistribute it...

Files: lib/*
Copyright: 2003 Another
License: Expat

Files: debian/*
Copyright: 2004 Packager
License: GPL-2+

License: Expat
 Permission is hereby granted, free of charge, ...
`;

describe('dpkg status', () => {
  it('keeps installed packages with their source package and version, sorted', () => {
    expect(installedPackages(STATUS)).toEqual([
      { name: 'bash', version: '5.2.15-2+b2', architecture: 'amd64', sourceName: 'bash', sourceVersion: '5.2.15-2', maintainer: undefined },
      { name: 'libc6', version: '2.36-9+deb12u4', architecture: 'amd64', sourceName: 'glibc', sourceVersion: '2.36-9+deb12u4', maintainer: 'GNU Libc Maintainers <debian-glibc@lists.debian.org>' },
      { name: 'libc6', version: '2.36-9+deb12u4', architecture: 'i386', sourceName: 'glibc', sourceVersion: '2.36-9+deb12u4', maintainer: undefined },
    ]);
  });

  it('joins continuation lines and skips comments', () => {
    const [paragraph] = parseDeb822('# comment\nA: one\n two\n .\nB: x\n');
    expect(paragraph.get('A')).toBe('one\ntwo\n.');
    expect(paragraph.get('B')).toBe('x');
  });
});

describe('DEP-5 licences', () => {
  it('maps Debian short names to SPDX identifiers', () => {
    expect(spdxExpressionOf('GPL-2+')).toBe('GPL-2.0-or-later');
    expect(spdxExpressionOf('LGPL-2.1')).toBe('LGPL-2.1-only');
    expect(spdxExpressionOf('BSD-3-clause')).toBe('BSD-3-Clause');
    expect(spdxExpressionOf('Apache-2.0')).toBe('Apache-2.0');
    expect(spdxExpressionOf('GPL-2+ or Artistic, and BSD-3-clause')).toBe('(GPL-2.0-or-later OR Artistic-1.0-Perl) AND BSD-3-Clause');
    expect(spdxExpressionOf('GPL-2+ with Autoconf-exception-2.0 exception')).toBe('GPL-2.0-or-later WITH Autoconf-exception-2.0');
    expect(spdxExpressionOf('GPL-3+ with Bison exception')).toBe('GPL-3.0-or-later WITH Bison-exception-2.2');
    expect(spdxExpressionOf('BSD-4-clause-UC and ISC')).toBe('BSD-4-Clause-UC AND ISC');
    expect(spdxExpressionOf('GFDL-NIV-1.3')).toBe('GFDL-1.3-no-invariants-only');
    expect(spdxExpressionOf('GFDL-1.3+-no-invariant')).toBe('GFDL-1.3-no-invariants-or-later');
    expect(spdxExpressionOf('public-domain')).toBeUndefined();
    expect(spdxExpressionOf('GPL-2+ with OpenSSL exception')).toBeUndefined();
  });

  it('reads the header and Files paragraphs of a machine-readable file, not stand-alone licence texts', () => {
    expect(licenceOfCopyright(DEP5)).toBe('GPL-2.0-or-later AND MIT');
    expect(licenceOfCopyright(DEP5.replace('License: Expat\n\nFiles: debian', 'License: Expat or GPL-3+\n\nFiles: debian'))).toBe('GPL-2.0-or-later AND (MIT OR GPL-3.0-or-later)');
  });

  it('says NOASSERTION for free-form files, no file, and licences that are no SPDX expression', () => {
    expect(licenceOfCopyright('This is the Debian prepackaged version of foo.\n\nCopyright: GPL\n')).toBe(NOASSERTION);
    expect(licenceOfCopyright(undefined)).toBe(NOASSERTION);
    expect(licenceOfCopyright(DEP5.replace('License: Expat\n\nFiles: debian', 'License: public-domain\n\nFiles: debian'))).toBe(NOASSERTION);
  });
});

describe('purls', () => {
  it('names the distribution, architecture and distro release', () => {
    expect(debPurl({ name: 'libc6', version: '2.36-9+deb12u4', architecture: 'amd64' }, { os: 'debian', version: '12' })).toBe(
      'pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12',
    );
    expect(debPurl({ name: 'bash', version: '5.1-6ubuntu1', architecture: 'amd64' }, { os: 'ubuntu', version: '22.04' })).toBe('pkg:deb/ubuntu/bash@5.1-6ubuntu1?arch=amd64&distro=ubuntu-22.04');
  });
});

function subjectOf(packages: SbomSubject['packages']): SbomSubject {
  return {
    imageName: 'acme_webapp_bookworm_main_20261202.010000',
    fileName: 'acme_webapp_bookworm_main_20261202.010000.tar.gz',
    sha256: 'a'.repeat(64),
    buildType: 'lxd',
    organization: 'acme',
    created: new Date('2026-12-02T01:00:00Z'),
    tool: 'tailor-image-0.1.0',
    packages,
  };
}

describe('SBOM documents from a rootfs', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sbom-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('read the dpkg database and copyright files inside the rootfs, links included', async () => {
    const root = join(dir, 'rootfs');
    mkdirSync(join(root, 'var/lib/dpkg'), { recursive: true });
    mkdirSync(join(root, 'usr/share/doc/libc6'), { recursive: true });
    mkdirSync(join(dir, 'host/doc/bash'), { recursive: true });
    writeFileSync(join(root, 'var/lib/dpkg/status'), STATUS);
    writeFileSync(join(root, 'usr/share/doc/libc6/copyright'), DEP5);
    // An absolute link names a path in the image, never the host's.
    writeFileSync(join(dir, 'host/doc/bash/copyright'), DEP5);
    symlinkSync(join(dir, 'host/doc/bash'), join(root, 'usr/share/doc/bash'));
    const packages = await imagePackages(root, { os: 'debian', version: '12' });
    expect(packages.map((p) => [p.name, p.architecture, p.licence])).toEqual([
      ['bash', 'amd64', NOASSERTION],
      ['libc6', 'amd64', 'GPL-2.0-or-later AND MIT'],
      ['libc6', 'i386', 'GPL-2.0-or-later AND MIT'],
    ]);

    const spdx = spdxDocument(subjectOf(packages));
    expect(spdxProblems(spdx)).toEqual([]);
    expect(spdx.packages[0]).toMatchObject({ SPDXID: 'SPDXRef-Image', checksums: [{ algorithm: 'SHA256', checksumValue: 'a'.repeat(64) }] });
    expect(spdxPackageList(spdx)).toEqual(['bash 5.2.15-2+b2 amd64', 'libc6 2.36-9+deb12u4 amd64', 'libc6 2.36-9+deb12u4 i386']);
    const cdx = cyclonedxJson(subjectOf(packages));
    expect(await cyclonedxSchemaErrors(cdx)).toBeNull();
    const bom = JSON.parse(cdx);
    expect(bom.metadata.component.hashes).toEqual([{ alg: 'SHA-256', content: 'a'.repeat(64) }]);
    expect(cyclonedxPackageList(bom)).toEqual(spdxPackageList(spdx));
    // The same input writes the same bytes (the build's timestamp, not the clock).
    expect(cyclonedxJson(subjectOf(packages))).toBe(cdx);
  });

  it('list exactly what dpkg-query lists for a real dpkg database (this host), and both validate', async () => {
    const packages = await imagePackages('/', { os: 'debian', version: '12' });
    const dpkg = execFileSync('dpkg-query', ['--show', '--showformat=${db:Status-Status} ${Package} ${Version} ${Architecture}\\n'], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.startsWith('installed '))
      .map((line) => line.slice('installed '.length))
      .sort();
    const spdx = spdxDocument(subjectOf(packages));
    expect(spdxPackageList(spdx)).toEqual(dpkg);
    expect(spdxProblems(spdx)).toEqual([]);
    const cdx = cyclonedxJson(subjectOf(packages));
    expect(await cyclonedxSchemaErrors(cdx)).toBeNull();
    expect(cyclonedxPackageList(JSON.parse(cdx))).toEqual(dpkg);
    // Debian's own packages are mostly DEP-5 by now: most get a licence.
    expect(packages.filter((p) => p.licence !== NOASSERTION).length).toBeGreaterThan(packages.length / 4);
  });
});
