import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';

/** A package the test repository holds. */
export interface TestPackage {
  name: string;
  version: string;
  depends?: string[];
  /** Files the package installs: path inside the image → content. */
  files: Record<string, string>;
}

export interface TestAptRepo {
  /** The URL to give as --apt-repo (without credentials). */
  url: string;
  /** The same with user:password@ in it. */
  urlWithCredentials: string;
  /** Armored public key that signs the repository. */
  keyFile: string;
  username: string;
  password: string;
  /** Every request path the server saw. */
  requests: string[];
  stop(): Promise<void>;
}

export interface TestAptRepoOptions {
  releaseLabel: string;
  distribution: string;
  packages: TestPackage[];
  /** Leave out the clearsigned InRelease (apt then falls back to Release + Release.gpg). */
  withoutInRelease?: boolean;
}

/** A built repository tree: `<root>/<release_label>/ubuntu/...`, its key, and its work folder. */
export interface TestAptRepoTree {
  root: string;
  keyFile: string;
  remove(): void;
}

/**
 * Builds a real, signed APT repository in tailor's layout
 * (`<root>/<release_label>/ubuntu dists/<distribution>/main`) with dpkg-deb and
 * apt-ftparchive, signed with a throw-away gpg key.
 */
export function buildTestAptRepo(options: TestAptRepoOptions): TestAptRepoTree {
  const work = mkdtempSync(join(tmpdir(), 'apt-repo-'));
  const root = join(work, 'www');
  const base = join(root, options.releaseLabel, 'ubuntu');
  const pool = join(base, 'pool', 'main');
  mkdirSync(pool, { recursive: true });
  for (const pkg of options.packages) buildDeb(work, pool, pkg);

  const dist = join(base, 'dists', options.distribution);
  const binary = join(dist, 'main', 'binary-amd64');
  mkdirSync(binary, { recursive: true });
  const packages = execFileSync('apt-ftparchive', ['packages', 'pool/main'], { cwd: base });
  writeFileSync(join(binary, 'Packages'), packages);
  execFileSync('gzip', ['-k', '-9', join(binary, 'Packages')]);
  const release = execFileSync(
    'apt-ftparchive',
    [
      '-o', `APT::FTPArchive::Release::Suite=${options.distribution}`,
      '-o', `APT::FTPArchive::Release::Codename=${options.distribution}`,
      '-o', 'APT::FTPArchive::Release::Components=main',
      '-o', 'APT::FTPArchive::Release::Architectures=amd64',
      'release', '.',
    ],
    { cwd: dist },
  );
  writeFileSync(join(dist, 'Release'), release);

  const gnupg = join(work, 'gnupg');
  mkdirSync(gnupg, { mode: 0o700 });
  const gpg = (args: string[]) => execFileSync('gpg', ['--homedir', gnupg, '--batch', '--yes', ...args], { stdio: 'pipe' });
  gpg(['--passphrase', '', '--quick-generate-key', 'tailor-image test repo <repo@example.invalid>', 'ed25519', 'sign', '1d']);
  if (!options.withoutInRelease) gpg(['--clearsign', '--output', join(dist, 'InRelease'), join(dist, 'Release')]);
  gpg(['--detach-sign', '--armor', '--output', join(dist, 'Release.gpg'), join(dist, 'Release')]);
  const keyFile = join(work, 'repo-key.asc');
  writeFileSync(keyFile, gpg(['--armor', '--export']));
  return { root, keyFile, remove: () => rmSync(work, { recursive: true, force: true }) };
}

/** The same repository served over HTTP with basic auth on 127.0.0.1. */
export async function startTestAptRepo(options: TestAptRepoOptions): Promise<TestAptRepo> {
  const { root, keyFile, remove } = buildTestAptRepo(options);

  const username = 'builder';
  const password = `pw-${Math.random().toString(36).slice(2)}-${Date.now()}`;
  const requests: string[] = [];
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    requests.push(path);
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="test"' }).end();
      return;
    }
    const file = normalize(join(root, path));
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Length': statSync(file).size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    urlWithCredentials: `http://${username}:${password}@127.0.0.1:${port}`,
    keyFile,
    username,
    password,
    requests,
    stop: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      remove();
    },
  };
}

function buildDeb(work: string, pool: string, pkg: TestPackage): void {
  const tree = join(work, 'src', pkg.name);
  mkdirSync(join(tree, 'DEBIAN'), { recursive: true });
  const control = [
    `Package: ${pkg.name}`,
    `Version: ${pkg.version}`,
    'Architecture: all',
    'Maintainer: tailor-image tests <tests@example.invalid>',
    ...(pkg.depends?.length ? [`Depends: ${pkg.depends.join(', ')}`] : []),
    `Description: ${pkg.name} (test package)`,
    '',
  ].join('\n');
  writeFileSync(join(tree, 'DEBIAN', 'control'), control);
  for (const [path, content] of Object.entries(pkg.files)) {
    const target = join(tree, path);
    mkdirSync(join(target, '..'), { recursive: true });
    writeFileSync(target, content);
  }
  execFileSync('dpkg-deb', ['--root-owner-group', '--build', tree, join(pool, `${pkg.name}_${pkg.version}_all.deb`)], {
    stdio: 'pipe',
  });
}
