import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectOneLineFailure, REPO_ROOT, runCreateImage } from '../support/cli';
import { describeWith, rootUser } from '../support/prereq';

const SMALL = join(REPO_ROOT, 'test', 'fixtures', 'catalog-small');
const BROKEN = join(REPO_ROOT, 'test', 'fixtures', 'catalog-broken');
const ROSDISTRO = join(REPO_ROOT, 'test', 'fixtures', 'rosdistro');

interface BadCase {
  name: string;
  args: (store: string) => string[];
  exit: 1 | 2;
  says: RegExp;
  env?: NodeJS.ProcessEnv;
}

/** A loopback port nothing listens on (taken and released). */
function closedPort(): number {
  const probe = execFileSync(process.execPath, ['-e', "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"]);
  return Number(probe.toString().trim());
}
const CLOSED = `http://127.0.0.1:${closedPort()}`;

const local = (store: string) => ['--local-storage', '--local-storage-path', store];
const webapp = ['--name', 'webapp', '--distribution', 'bookworm'];

const CASES: BadCase[] = [
  { name: 'unknown image', args: (s) => ['--name', 'nope', '--distribution', 'bookworm', ...local(s)], exit: 2, says: /unknown image "nope"/ },
  { name: '"_" in name', args: (s) => ['--name', 'web_app', '--distribution', 'bookworm', ...local(s)], exit: 2, says: /--name "web_app" must not contain "_"/ },
  { name: '"/" in name', args: (s) => ['--name', 'web/app', '--distribution', 'bookworm', ...local(s)], exit: 2, says: /path separator/ },
  { name: '".." in organization', args: (s) => [...webapp, '--organization', '..', ...local(s)], exit: 2, says: /--organization "\.\." must not contain "\.\."/ },
  { name: 'space in release label', args: (s) => [...webapp, '--release-label', 'hot dog', ...local(s)], exit: 2, says: /--release-label "hot dog" must not contain spaces/ },
  { name: '"_" in release label', args: (s) => [...webapp, '--release-label', 'hot_dog', ...local(s)], exit: 2, says: /must not contain "_"/ },
  { name: 'unknown distribution', args: (s) => ['--name', 'webapp', '--distribution', 'stretch', ...local(s)], exit: 2, says: /unknown distribution "stretch"/ },
  { name: 'distribution outside os_versions', args: (s) => ['--name', 'tiny-a', '--distribution', 'noble', '--recipes-path', SMALL, ...local(s)], exit: 2, says: /not built for noble/ },
  { name: 'conflicting modes', args: (s) => [...webapp, '--build-only', ...local(s)], exit: 2, says: /--build-only and --local-storage are exclusive/ },
  { name: 'publish with local storage', args: (s) => [...webapp, '--publish', ...local(s)], exit: 2, says: /exclusive/ },
  { name: 'malformed YAML', args: (s) => ['--name', 'malformed', '--distribution', 'bookworm', '--recipes-path', BROKEN, ...local(s)], exit: 2, says: /malformed\.yaml: line \d+ malformed YAML/ },
  { name: 'recipe failing the schema', args: (s) => ['--name', 'invalid', '--distribution', 'bookworm', '--recipes-path', BROKEN, ...local(s)], exit: 2, says: /recipe "invalid" .* is invalid: packages\.0: must be a Debian package name/ },
  { name: 'bad timestamp', args: (s) => [...webapp, '--timestamp', '26-11-2026', ...local(s)], exit: 2, says: /--timestamp "26-11-2026" is not in the form YYYYMMDD\.HHMMSS/ },
  { name: 'the same --name twice', args: (s) => [...webapp, '--name', 'webapp', ...local(s)], exit: 2, says: /--name webapp is given twice/ },
  { name: 'missing --name', args: (s) => ['--distribution', 'bookworm', ...local(s)], exit: 2, says: /required option '--name <image>' not specified/ },
  { name: 'unknown flag', args: (s) => [...webapp, '--colour', 'blue', ...local(s)], exit: 2, says: /unknown option '--colour'/ },
  { name: 'path without --local-storage', args: (s) => [...webapp, '--local-storage-path', s], exit: 2, says: /--local-storage-path needs --local-storage/ },
  { name: 'publish without a bucket', args: () => [...webapp, '--publish'], exit: 2, says: /--publish needs the bucket/ },
  { name: 'apt repo that is not a URL', args: (s) => ['--name', 'unsigned', '--distribution', 'bookworm', '--recipes-path', SMALL, '--apt-repo', 'apt.example.com', ...local(s)], exit: 2, says: /--apt-repo "apt\.example\.com" is not a URL/ },
  { name: 'unsigned org repository', args: (s) => ['--name', 'tiny-a', '--distribution', 'bookworm', '--recipes-path', SMALL, '--apt-repo', 'http://127.0.0.1:1', ...local(s)], exit: 2, says: /needs its signing key/ },
  { name: 'mirror that is not a URL', args: (s) => [...webapp, '--mirror', 'deb.debian.org/debian', ...local(s)], exit: 2, says: /--mirror "deb\.debian\.org\/debian" is not an http/ },
  { name: 'rosdistro without config', args: (s) => [...webapp, '--rosdistro-path', tmpdir(), ...local(s)], exit: 2, says: /has no config\/images\.yaml/ },
  { name: 'an AMI from a rosdistro', args: (s) => ['--name', 'legacy-ami', '--distribution', 'focal', '--rosdistro-path', ROSDISTRO, ...local(s)], exit: 2, says: /build_type ami is not supported/ },
  { name: 'unreachable mirror', args: (s) => ['--name', 'tiny-a', '--distribution', 'bookworm', '--recipes-path', SMALL, '--mirror', `${CLOSED}/debian`, ...local(s)], exit: 1, says: new RegExp(`mirror ${CLOSED}/debian is not reachable \\(ECONNREFUSED\\)`) },
  { name: 'mirror without the suite', args: (s) => ['--name', 'tiny-a', '--distribution', 'bookworm', '--recipes-path', SMALL, '--mirror', 'http://deb.debian.org/nothing-here', ...local(s)], exit: 1, says: /has no suite "bookworm" \(HTTP \d+/ },
  { name: 'missing host tools', args: (s) => ['--name', 'tiny-a', '--distribution', 'bookworm', '--recipes-path', SMALL, ...local(s)], env: { PATH: '/nonexistent' }, exit: 1, says: /missing host tools? mmdebstrap.*\(install with: apt-get install mmdebstrap/ },
  { name: 'unwritable storage path', args: () => ['--name', 'tiny-a', '--distribution', 'bookworm', '--recipes-path', SMALL, '--local-storage', '--local-storage-path', '/proc/tailor-store'], exit: 1, says: /the local storage path \/proc\/tailor-store is not writable/ },
  { name: 'storage path below a file', args: (s) => ['--name', 'tiny-a', '--distribution', 'bookworm', '--recipes-path', SMALL, '--local-storage', '--local-storage-path', join(s, 'a-file', 'store')], exit: 1, says: /is not writable \(a-file is not a directory\)/ },
  { name: 'password variable not set', args: (s) => ['--name', 'secret-user', '--distribution', 'bookworm', '--recipes-path', SMALL, ...local(s)], env: { TAILOR_TEST_PASSWORD: '' }, exit: 1, says: /password is read from \$TAILOR_TEST_PASSWORD, which is not set/ },
  { name: 'missing org repository key file', args: (s) => ['--name', 'tiny-a', '--distribution', 'bookworm', '--recipes-path', SMALL, '--apt-repo', 'http://127.0.0.1:1', '--apt-repo-key', '/nonexistent/key.asc', ...local(s)], exit: 2, says: /key \/nonexistent\/key\.asc does not exist/ },
  { name: 'unreachable org repository', args: (s) => ['--name', 'unsigned', '--distribution', 'bookworm', '--recipes-path', SMALL, '--apt-repo', CLOSED, ...local(s)], exit: 1, says: new RegExp(`the org repository ${CLOSED}/hotdog/ubuntu is not reachable`) },
];

describeWith('bad input: one clear line, the right exit code, nothing stored', [rootUser()], () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'bad-input-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test(`the corpus has at least 20 cases (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(20);
  });

  test.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, badCase) => {
    const store = join(root, badCase.name.replace(/\W+/g, '-'));
    mkdirSync(store);
    writeFileSync(join(store, 'a-file'), 'not a directory\n');
    const result = await runCreateImage(badCase.args(store), {
      env: { ...badCase.env, TAILOR_IMAGE_WORK_DIR: join(root, 'work') },
      timeoutMs: 60000,
    });
    expectOneLineFailure(result, badCase.says, badCase.exit);
    expect(readdirSync(store)).toEqual(['a-file']);
    if (existsSync(join(root, 'work'))) expect(readdirSync(join(root, 'work'))).toEqual([]);
  }, 70000);
});
