import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { formatTimestamp } from '../../lib/core/naming';
import { CliResult, REPO_ROOT, runCommand } from '../support/cli';
import { describeWith, rootUser } from '../support/prereq';

/**
 * Bad input to the bundled commands (dist/create_image.js, cleanup_images.js, serve.js):
 * each case gives one error line saying what is wrong, the right exit code (2 usage, 1
 * failure, 130 interrupted), no stack trace, no raw control characters, nothing written
 * to any store; and no line any command prints, in the whole corpus, holds a secret the
 * test planted (in URLs, in the environment, in /etc/shadow).
 */

const SMALL = join(REPO_ROOT, 'test', 'fixtures', 'catalog-small');
const BROKEN = join(REPO_ROOT, 'test', 'fixtures', 'catalog-broken');
const ROSDISTRO = join(REPO_ROOT, 'test', 'fixtures', 'rosdistro');

type CommandName = 'create_image' | 'cleanup_images' | 'serve';

/** What a case's arguments may point at. */
interface Places {
  /** The case's own store folder (holding a-file, a plain file; a release for cleanup cases). */
  store: string;
  /** A catalog of hostile recipe files (see beforeAll). */
  hostile: string;
  /** A rosdistro whose images.yaml is an alias bomb. */
  bombRosdistro: string;
}

interface BadCase {
  name: string;
  command?: CommandName;
  args: (places: Places) => string[];
  exit: 1 | 2 | 130;
  says: RegExp;
  env?: NodeJS.ProcessEnv;
  /** Ctrl-C once stderr matches. */
  interruptWhen?: RegExp;
  /** The store holds a release with images (what a cleanup could remove). */
  withRelease?: boolean;
}

// Secrets planted in URLs and the environment: none may appear in any line printed.
const URL_USER = 'planted-user-4f1c';
const URL_PW = 'planted-pw-9b2e';
const CREDS = `${URL_USER}:${URL_PW}`;
const ENV_SECRETS: Record<string, string> = {
  AWS_ACCESS_KEY_ID: 'AKIAPLANTEDKEY4F1C9B',
  AWS_SECRET_ACCESS_KEY: 'planted-aws-secret-77aa',
  AWS_SESSION_TOKEN: 'planted-session-token-5e0f',
  TAILOR_REGISTRY_USERNAME: 'planted-registry-user-a1b2',
  TAILOR_REGISTRY_PASSWORD: 'planted-registry-pw-31cd',
  TAILOR_TEST_PASSWORD: 'planted-user-pw-c3d4',
};
/** The password hashes of this host's /etc/shadow (a recipe path in the corpus leads there). */
function shadowHashes(): string[] {
  try {
    return readFileSync('/etc/shadow', 'utf8').split('\n').map((line) => line.split(':')[1] ?? '').filter((hash) => hash.length > 2);
  } catch {
    return [];
  }
}
const SECRETS = [URL_USER, URL_PW, ...Object.values(ENV_SECRETS), ...shadowHashes()];

/** A loopback port nothing listens on (taken and released). */
function closedPort(): number {
  const probe = execFileSync(process.execPath, ['-e', "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"]);
  return Number(probe.toString().trim());
}
const CLOSED_PORT = closedPort();
const CLOSED = `http://127.0.0.1:${CLOSED_PORT}`;
/** A server that accepts connections and never answers (set in beforeAll). */
let hangingUrl = '';

const BASE_ENV: NodeJS.ProcessEnv = {
  ...ENV_SECRETS,
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
  // Any S3 call goes to a closed loopback port: fails at once, reaches nothing.
  AWS_ENDPOINT_URL_S3: CLOSED,
};

const local = (store: string) => ['--local-storage', '--local-storage-path', store];
const webapp = ['--name', 'webapp', '--distribution', 'bookworm'];
const tiny = ['--name', 'tiny-a', '--distribution', 'bookworm', '--recipes-path', SMALL];
const unsigned = ['--name', 'unsigned', '--distribution', 'bookworm', '--recipes-path', SMALL];
const long = (char: string) => char.repeat(100000);
const cleanup = (store: string) => ['--release-label', 'hotdog', '--organization', 'acme', '--local-storage-path', store];
const serveIn = (store: string) => ['--local-storage-path', store, '--tls-cert', join(store, 'a-file'), '--tls-key', join(store, 'a-file')];

const CASES: BadCase[] = [
  // Names, distributions, modes, catalogs.
  { name: 'unknown image', args: (p) => ['--name', 'nope', '--distribution', 'bookworm', ...local(p.store)], exit: 2, says: /unknown image "nope"/ },
  { name: '"_" in name', args: (p) => ['--name', 'web_app', '--distribution', 'bookworm', ...local(p.store)], exit: 2, says: /--name "web_app" must not contain "_"/ },
  { name: '"/" in name', args: (p) => ['--name', 'web/app', '--distribution', 'bookworm', ...local(p.store)], exit: 2, says: /path separator/ },
  { name: '".." in organization', args: (p) => [...webapp, '--organization', '..', ...local(p.store)], exit: 2, says: /--organization "\.\." must not contain "\.\."/ },
  { name: 'space in release label', args: (p) => [...webapp, '--release-label', 'hot dog', ...local(p.store)], exit: 2, says: /--release-label "hot dog" must not contain spaces/ },
  { name: '"_" in release label', args: (p) => [...webapp, '--release-label', 'hot_dog', ...local(p.store)], exit: 2, says: /must not contain "_"/ },
  { name: 'unknown distribution', args: (p) => ['--name', 'webapp', '--distribution', 'stretch', ...local(p.store)], exit: 2, says: /unknown distribution "stretch"/ },
  { name: 'distribution outside os_versions', args: (p) => ['--name', 'tiny-a', '--distribution', 'noble', '--recipes-path', SMALL, ...local(p.store)], exit: 2, says: /not built for noble/ },
  { name: 'conflicting modes', args: (p) => [...webapp, '--build-only', ...local(p.store)], exit: 2, says: /--build-only and --local-storage are exclusive/ },
  { name: 'publish with local storage', args: (p) => [...webapp, '--publish', ...local(p.store)], exit: 2, says: /exclusive/ },
  { name: 'malformed YAML', args: (p) => ['--name', 'malformed', '--distribution', 'bookworm', '--recipes-path', BROKEN, ...local(p.store)], exit: 2, says: /malformed\.yaml: line \d+ malformed YAML/ },
  { name: 'recipe failing the schema', args: (p) => ['--name', 'invalid', '--distribution', 'bookworm', '--recipes-path', BROKEN, ...local(p.store)], exit: 2, says: /recipe "invalid" .* is invalid: packages\.0: must be a Debian package name/ },
  { name: 'file path climbing out of the image', args: (p) => ['--name', 'climbing-path', '--distribution', 'bookworm', '--recipes-path', BROKEN, ...local(p.store)], exit: 2, says: /recipe "climbing-path" .* is invalid: files\.0\.path: must not contain a "\.\." component/ },
  { name: 'file source outside the catalog', args: (p) => ['--name', 'host-source', '--distribution', 'bookworm', '--recipes-path', BROKEN, ...local(p.store)], exit: 2, says: /recipe "host-source": file source \/etc\/shadow is outside the catalog folder .*--allow-source-dir/ },
  { name: 'bad timestamp', args: (p) => [...webapp, '--timestamp', '26-11-2026', ...local(p.store)], exit: 2, says: /--timestamp "26-11-2026" is not in the form YYYYMMDD\.HHMMSS/ },
  { name: 'impossible timestamp', args: (p) => [...webapp, '--timestamp', '20260231.000000', ...local(p.store)], exit: 2, says: /is not a real date and time/ },
  { name: 'the same --name twice', args: (p) => [...webapp, '--name', 'webapp', ...local(p.store)], exit: 2, says: /--name webapp is given twice/ },
  { name: 'missing --name', args: (p) => ['--distribution', 'bookworm', ...local(p.store)], exit: 2, says: /required option '--name <image>' not specified/ },
  { name: 'missing --distribution', args: (p) => ['--name', 'webapp', ...local(p.store)], exit: 2, says: /required option '--distribution <codename>' not specified/ },
  { name: 'unknown flag', args: (p) => [...webapp, '--colour', 'blue', ...local(p.store)], exit: 2, says: /unknown option '--colour'/ },
  { name: 'stray argument', args: (p) => [...webapp, 'extra', ...local(p.store)], exit: 2, says: /too many arguments/ },
  { name: 'verbose and quiet', args: (p) => [...webapp, '-v', '-q', ...local(p.store)], exit: 2, says: /cannot be used with/ },
  { name: 'path without --local-storage', args: (p) => [...webapp, '--local-storage-path', p.store], exit: 2, says: /--local-storage-path needs --local-storage/ },
  { name: 'publish without a bucket', args: () => [...webapp, '--publish'], exit: 2, says: /--publish needs the bucket/ },
  { name: '--bucket without --publish', args: (p) => [...webapp, '--bucket', 'acme-images', ...local(p.store)], exit: 2, says: /--bucket needs --publish/ },
  { name: 'bad bucket name', args: () => [...webapp, '--publish', '--bucket', 'Acme_Images'], exit: 2, says: /"Acme_Images" is not an S3 bucket name/ },
  { name: '--rosdistro-path with --recipes-path', args: (p) => [...webapp, '--rosdistro-path', ROSDISTRO, '--recipes-path', SMALL, ...local(p.store)], exit: 2, says: /are exclusive/ },
  { name: '--recipes-path that is no catalog', args: (p) => [...webapp, '--recipes-path', join(p.store, 'nothing'), ...local(p.store)], exit: 2, says: /is not a recipe catalog/ },
  { name: 'rosdistro without config', args: (p) => [...webapp, '--rosdistro-path', tmpdir(), ...local(p.store)], exit: 2, says: /has no config\/images\.yaml/ },
  { name: '--cache-max-age 0', args: (p) => [...webapp, '--cache-max-age', '0', ...local(p.store)], exit: 2, says: /--cache-max-age "0" is not a positive number of hours/ },
  { name: '--cache-max-age in words', args: (p) => [...webapp, '--cache-max-age', 'a day', ...local(p.store)], exit: 2, says: /--cache-max-age "a day"/ },

  // URLs, and the credentials in them.
  { name: 'apt repo that is not a URL', args: (p) => [...unsigned, '--apt-repo', 'apt.example.com', ...local(p.store)], exit: 2, says: /--apt-repo "apt\.example\.com" is not a URL/ },
  { name: 'unsigned org repository', args: (p) => [...tiny, '--apt-repo', 'http://127.0.0.1:1', ...local(p.store)], exit: 2, says: /needs its signing key/ },
  { name: 'credentials in a wrong-scheme --apt-repo', args: (p) => [...unsigned, '--apt-repo', `ftp://${CREDS}@apt.example.com/`, ...local(p.store)], exit: 2, says: /--apt-repo "ftp:\/\/\*\*\*@apt\.example\.com\/" must be http:\/\/, https:\/\/ or s3:\/\// },
  { name: 'credentials in an --apt-repo with an out-of-range port', args: (p) => [...unsigned, '--apt-repo', `http://${CREDS}@apt.example.com:99999/`, ...local(p.store)], exit: 2, says: /--apt-repo "http:\/\/\*\*\*@apt\.example\.com:99999\/" is not a URL/ },
  { name: 'malformed %-escape in --apt-repo credentials', args: (p) => [...unsigned, '--apt-repo', `http://${CREDS}%ZZ@apt.example.com/`, ...local(p.store)], exit: 2, says: /--apt-repo "http:\/\/\*\*\*@apt\.example\.com\/" has a malformed %-escape/ },
  { name: 'credentials in an s3:// --apt-repo', args: (p) => [...unsigned, '--apt-repo', `s3://${CREDS}@acme-images/apt`, ...local(p.store)], exit: 2, says: /--apt-repo "s3:\/\/\*\*\*@acme-images\/apt" holds credentials/ },
  { name: 'credentials in the s3:// bucket published to', args: () => [...webapp, '--publish', '--apt-repo', `s3://${CREDS}@acme-images`], exit: 2, says: /holds credentials/ },
  { name: '100,000-character --apt-repo with credentials', args: (p) => [...unsigned, '--apt-repo', `ftp://${CREDS}@${long('a')}.example/`, ...local(p.store)], exit: 2, says: /--apt-repo "ftp:\/\/\*\*\*@a+…" \(\d+ characters\) must be http/ },
  { name: 'unreadable s3:// org repository', args: (p) => [...unsigned, '--apt-repo', 's3://acme-images', ...local(p.store)], exit: 1, says: /the org repository s3:\/\/acme-images\/hotdog\/ubuntu\/dists\/bookworm is not readable \(.*ECONNREFUSED/ },
  { name: 'unreachable org repository', args: (p) => [...unsigned, '--apt-repo', CLOSED, ...local(p.store)], exit: 1, says: new RegExp(`the org repository ${CLOSED}/hotdog/ubuntu is not reachable`) },
  { name: 'unreachable org repository with credentials', args: (p) => [...unsigned, '--apt-repo', `http://${CREDS}@127.0.0.1:${CLOSED_PORT}`, ...local(p.store)], exit: 1, says: new RegExp(`the org repository ${CLOSED}/hotdog/ubuntu is not reachable \\(ECONNREFUSED\\)`) },
  { name: 'missing org repository key file', args: (p) => [...tiny, '--apt-repo', 'http://127.0.0.1:1', '--apt-repo-key', '/nonexistent/key.asc', ...local(p.store)], exit: 2, says: /key \/nonexistent\/key\.asc does not exist/ },
  { name: 'mirror that is not a URL', args: (p) => [...webapp, '--mirror', 'deb.debian.org/debian', ...local(p.store)], exit: 2, says: /--mirror "deb\.debian\.org\/debian" is not an http/ },
  { name: 'credentials in a mirror', args: (p) => [...tiny, '--mirror', `http://${CREDS}@127.0.0.1:${CLOSED_PORT}/debian`, ...local(p.store)], exit: 2, says: /--mirror "http:\/\/\*\*\*@127\.0\.0\.1:\d+\/debian" must not hold credentials/ },
  { name: 'credentials in a security mirror', args: (p) => [...tiny, '--security-mirror', `https://${CREDS}@security.example/debian-security`, ...local(p.store)], exit: 2, says: /--security-mirror "https:\/\/\*\*\*@security\.example\/debian-security" must not hold credentials/ },
  { name: 'credentials in a mirror of another scheme', args: (p) => [...tiny, '--mirror', `ftp://${CREDS}@mirror.example/debian`, ...local(p.store)], exit: 2, says: /--mirror "ftp:\/\/\*\*\*@mirror\.example\/debian" is not an http\(s\):\/\/ URL/ },
  { name: 'file:// mirror', args: (p) => [...tiny, '--mirror', 'file:///srv/debian', ...local(p.store)], exit: 2, says: /--mirror "file:\/\/\/srv\/debian": file:\/\/ mirrors are not supported/ },
  { name: 'file:// security mirror', args: (p) => [...tiny, '--security-mirror', 'file:///srv/debian-security', ...local(p.store)], exit: 2, says: /file:\/\/ mirrors are not supported/ },
  { name: '"none" as the main mirror', args: (p) => [...tiny, '--mirror', 'none', ...local(p.store)], exit: 2, says: /--mirror "none" is not an http\(s\):\/\/ URL/ },
  { name: 'unreachable mirror', args: (p) => [...tiny, '--mirror', `${CLOSED}/debian`, ...local(p.store)], exit: 1, says: new RegExp(`mirror ${CLOSED}/debian is not reachable \\(ECONNREFUSED\\)`) },
  { name: 'mirror without the suite', args: (p) => [...tiny, '--mirror', 'http://deb.debian.org/nothing-here', ...local(p.store)], exit: 1, says: /has no suite "bookworm" \(HTTP \d+/ },
  { name: 'password from the environment, failing elsewhere', args: (p) => ['--name', 'secret-user', '--distribution', 'bookworm', '--recipes-path', SMALL, '--mirror', `${CLOSED}/debian`, ...local(p.store)], exit: 1, says: /mirror .* is not reachable/ },
  { name: 'registry credentials set, docker publish without a registry', args: () => ['--name', 'dev-env', '--distribution', 'bookworm', '--publish', '--bucket', 'acme-images'], exit: 2, says: /publishing a docker image needs --docker-registry/ },

  // Files that are not recipes.
  { name: 'recipe path symlinked to /etc/shadow', args: (p) => ['--name', 'shadow', '--distribution', 'bookworm', '--recipes-path', p.hostile, ...local(p.store)], exit: 2, says: /shadow\.yaml is not a recipe: none of its \d+ top-level keys? is a recipe field/ },
  { name: 'recipe with unknown keys', args: (p) => ['--name', 'keys', '--distribution', 'bookworm', '--recipes-path', p.hostile, ...local(p.store)], exit: 2, says: /unknown keys "k1", "longx+…" \(204 characters\), "k3" and 2 more/ },
  { name: 'recipe path leading to /dev/zero', args: (p) => ['--name', 'zero', '--distribution', 'bookworm', '--recipes-path', p.hostile, ...local(p.store)], exit: 2, says: /zero\.yaml: not a regular file/ },
  { name: 'alias bomb', args: (p) => ['--name', 'bomb', '--distribution', 'bookworm', '--recipes-path', p.hostile, ...local(p.store)], exit: 2, says: /bomb\.yaml: cannot be read as YAML: Excessive alias count/ },
  { name: 'alias bomb in a rosdistro', args: (p) => ['--name', 'bot', '--distribution', 'jammy', '--rosdistro-path', p.bombRosdistro, ...local(p.store)], exit: 2, says: /images\.yaml: cannot be read as YAML/ },

  // Flags that would do the surprising thing.
  { name: 'far-future --timestamp', args: (p) => [...webapp, '--timestamp', '29991231.000000', ...local(p.store)], exit: 2, says: /--timestamp 29991231\.000000 is \d+ days in the future/ },
  { name: '--timestamp an hour ahead', args: (p) => [...webapp, '--timestamp', formatTimestamp(new Date(Date.now() + 3600_000)), ...local(p.store)], exit: 2, says: /is (59|60) minutes in the future .*at most 10 minutes ahead/ },
  { name: '--distribution twice', args: (p) => [...webapp, '--distribution', 'jammy', ...local(p.store)], exit: 2, says: /--distribution is given twice/ },
  { name: '--timestamp twice', args: (p) => [...webapp, '--timestamp', '20250101.000000', '--timestamp', '20250102.000000', ...local(p.store)], exit: 2, says: /--timestamp is given twice/ },
  { name: '--local-storage-path twice', args: (p) => [...webapp, ...local(p.store), '--local-storage-path', p.store], exit: 2, says: /--local-storage-path is given twice/ },
  { name: '--apt-repo twice, with credentials', args: (p) => [...unsigned, '--apt-repo', `http://${CREDS}@a.example`, '--apt-repo', `http://${CREDS}@b.example`, ...local(p.store)], exit: 2, says: /--apt-repo is given twice/ },
  { name: '--mirror twice', args: (p) => [...tiny, '--mirror', 'http://a.example/debian', '--mirror', 'http://b.example/debian', ...local(p.store)], exit: 2, says: /--mirror is given twice/ },
  { name: '--cloudfront-distribution-id without --publish', args: (p) => [...webapp, '--cloudfront-distribution-id', 'E2EXAMPLE', ...local(p.store)], exit: 2, says: /--cloudfront-distribution-id needs --publish/ },
  { name: '--work-dir pointing at a file', args: (p) => [...tiny, '--work-dir', join(p.store, 'a-file'), ...local(p.store)], exit: 1, says: /the work directory \(--work-dir\) .*a-file is not writable \(a-file is not a directory\)/ },
  { name: '--work-dir below a file', args: (p) => [...tiny, '--work-dir', join(p.store, 'a-file', 'work'), ...local(p.store)], exit: 1, says: /the work directory \(--work-dir\) .* is not writable \(a-file is not a directory\)/ },
  { name: '--cache-dir pointing at a file', args: (p) => [...tiny, '--cache-dir', join(p.store, 'a-file'), ...local(p.store)], exit: 1, says: /the bootstrap cache \(--cache-dir\) .*a-file is not writable \(a-file is not a directory\)/ },
  { name: 'unwritable storage path', args: () => [...tiny, '--local-storage', '--local-storage-path', '/proc/tailor-store'], exit: 1, says: /the local storage path \/proc\/tailor-store is not writable/ },
  { name: 'storage path below a file', args: (p) => [...tiny, '--local-storage', '--local-storage-path', join(p.store, 'a-file', 'store')], exit: 1, says: /is not writable \(a-file is not a directory\)/ },
  { name: 'missing host tools', args: (p) => [...tiny, ...local(p.store)], env: { PATH: '/nonexistent' }, exit: 1, says: /missing host tools? mmdebstrap.*\(install with: apt-get install mmdebstrap/ },
  { name: 'password variable not set', args: (p) => ['--name', 'secret-user', '--distribution', 'bookworm', '--recipes-path', SMALL, ...local(p.store)], env: { TAILOR_TEST_PASSWORD: '' }, exit: 1, says: /password is read from \$TAILOR_TEST_PASSWORD, which is not set/ },
  // The seed's own Ubuntu example passes the keyring check on any Debian or Ubuntu host.
  { name: 'Ubuntu image gets as far as the mirror', args: (p) => ['--name', 'webapp', '--distribution', 'jammy', '--mirror', `${CLOSED}/ubuntu`, ...local(p.store)], exit: 1, says: new RegExp(`mirror ${CLOSED}/ubuntu is not reachable`) },

  // What is echoed: escaped and shortened.
  { name: 'control characters in --name', args: (p) => ['--name', 'web\x1b[31mapp\x07', '--distribution', 'bookworm', ...local(p.store)], exit: 2, says: /--name "web\\x1b\[31mapp\\x07" may only hold/ },
  { name: 'right-to-left override in --release-label', args: (p) => [...webapp, '--release-label', 'hot\u202edog', ...local(p.store)], exit: 2, says: /--release-label "hot\\u\{202E\}dog"/ },
  { name: 'newline in --organization', args: (p) => [...webapp, '--organization', 'acme\nwarning: fake line', ...local(p.store)], exit: 2, says: /--organization "acme\\nwarning: fake line" must not contain spaces/ },
  { name: '100,000-character --organization', args: (p) => [...webapp, '--organization', long('a'), ...local(p.store)], exit: 2, says: /--organization "a{80}…" \(100000 characters\) is longer than 64 characters/ },
  { name: '100,000-character --timestamp', args: (p) => [...webapp, '--timestamp', long('1'), ...local(p.store)], exit: 2, says: /--timestamp "1{80}…" \(100000 characters\) is not in the form/ },
  { name: '100,000-character unknown flag', args: (p) => [...webapp, `--${long('x')}`, ...local(p.store)], exit: 2, says: /unknown option '--x+ … x+'$/ },

  // Interrupted.
  { name: 'Ctrl-C during verify', args: (p) => [...tiny, '--mirror', `${hangingUrl}/debian`, ...local(p.store)], interruptWhen: /verify: started/, exit: 130, says: /interrupted by SIGINT/ },

  // cleanup_images
  { name: 'cleanup: --num-to-keep 0', command: 'cleanup_images', withRelease: true, args: (p) => [...cleanup(p.store), '--num-to-keep', '0'], exit: 2, says: /--num-to-keep 0 would remove every image/ },
  { name: 'cleanup: --days-to-keep 0', command: 'cleanup_images', withRelease: true, args: (p) => [...cleanup(p.store), '--days-to-keep', '0'], exit: 2, says: /--days-to-keep 0 would remove every image/ },
  { name: 'cleanup: --num-to-keep twice', command: 'cleanup_images', withRelease: true, args: (p) => [...cleanup(p.store), '--num-to-keep', '5', '--num-to-keep', '1'], exit: 2, says: /--num-to-keep is given twice/ },
  { name: 'cleanup: --release-label twice', command: 'cleanup_images', withRelease: true, args: (p) => [...cleanup(p.store), '--release-label', 'other', '--num-to-keep', '1'], exit: 2, says: /--release-label is given twice/ },
  { name: 'cleanup: --num-to-keep in words', command: 'cleanup_images', withRelease: true, args: (p) => [...cleanup(p.store), '--num-to-keep', 'five'], exit: 2, says: /--num-to-keep "five" is not a whole number of images/ },
  { name: 'cleanup: no retention policy', command: 'cleanup_images', withRelease: true, args: (p) => cleanup(p.store), exit: 2, says: /give --days-to-keep and\/or --num-to-keep/ },
  { name: 'cleanup: neither bucket nor local store', command: 'cleanup_images', args: () => ['--release-label', 'hotdog', '--organization', 'acme', '--num-to-keep', '1'], exit: 2, says: /give exactly one of --apt-repo/ },
  { name: 'cleanup: --cloudfront-distribution-id with a local store', command: 'cleanup_images', withRelease: true, args: (p) => [...cleanup(p.store), '--num-to-keep', '1', '--cloudfront-distribution-id', 'E2EXAMPLE'], exit: 2, says: /--cloudfront-distribution-id needs --apt-repo/ },
  { name: 'cleanup: local store without the release', command: 'cleanup_images', args: (p) => [...cleanup(p.store), '--num-to-keep', '1'], exit: 2, says: /holds no release "hotdog"/ },
  { name: 'cleanup: "_" in --release-label', command: 'cleanup_images', args: (p) => ['--release-label', 'hot_dog', '--organization', 'acme', '--local-storage-path', p.store, '--num-to-keep', '1'], exit: 2, says: /--release-label "hot_dog" must not contain "_"/ },
  { name: 'cleanup: control characters in --organization', command: 'cleanup_images', args: (p) => ['--release-label', 'hotdog', '--organization', '\x1b]0;owned\x07', '--local-storage-path', p.store, '--num-to-keep', '1'], exit: 2, says: /--organization "\\x1b\]0;owned\\x07"/ },
  { name: 'cleanup: missing --organization', command: 'cleanup_images', args: (p) => ['--release-label', 'hotdog', '--local-storage-path', p.store, '--num-to-keep', '1'], exit: 2, says: /required option '--organization <org>' not specified/ },
  { name: 'cleanup: credentials in an s3:// --apt-repo', command: 'cleanup_images', args: () => ['--release-label', 'hotdog', '--organization', 'acme', '--apt-repo', `s3://${CREDS}@acme-images`, '--num-to-keep', '1'], exit: 2, says: /--apt-repo "s3:\/\/\*\*\*@acme-images" holds credentials/ },
  { name: 'cleanup: credentials in an https --apt-repo', command: 'cleanup_images', args: () => ['--release-label', 'hotdog', '--organization', 'acme', '--apt-repo', `https://${CREDS}@apt.example.com/`, '--num-to-keep', '1'], exit: 2, says: /--apt-repo "https:\/\/\*\*\*@apt\.example\.com\/" is not an S3 bucket URL/ },
  { name: 'cleanup: unreachable bucket', command: 'cleanup_images', args: () => ['--release-label', 'hotdog', '--organization', 'acme', '--apt-repo', 's3://acme-images', '--num-to-keep', '1'], exit: 1, says: /cleanup of s3:\/\/acme-images\/hotdog\/images failed: .*ECONNREFUSED/ },

  // serve
  { name: 'serve: missing --tls-cert', command: 'serve', args: (p) => ['--local-storage-path', p.store, '--tls-key', join(p.store, 'a-file')], exit: 2, says: /required option '--tls-cert <pem>' not specified/ },
  { name: 'serve: --port twice', command: 'serve', args: (p) => [...serveIn(p.store), '--port', '8443', '--port', '8444'], exit: 2, says: /--port is given twice/ },
  { name: 'serve: --local-storage-path twice', command: 'serve', args: (p) => [...serveIn(p.store), '--local-storage-path', tmpdir()], exit: 2, says: /--local-storage-path is given twice/ },
  { name: 'serve: port out of range', command: 'serve', args: (p) => [...serveIn(p.store), '--port', '99999'], exit: 2, says: /--port "99999" is not a port number/ },
  { name: 'serve: store that is not a folder', command: 'serve', args: (p) => serveIn(join(p.store, 'a-file')), exit: 2, says: /--local-storage-path ".*a-file" is not a folder/ },
  { name: 'serve: --max-connections 0', command: 'serve', args: (p) => [...serveIn(p.store), '--max-connections', '0'], exit: 2, says: /--max-connections "0" is not a number of connections/ },
  { name: 'serve: --idle-timeout in words', command: 'serve', args: (p) => [...serveIn(p.store), '--idle-timeout', 'soon'], exit: 2, says: /--idle-timeout "soon" is not a number of seconds/ },
  { name: 'serve: certificate that is not PEM', command: 'serve', args: (p) => serveIn(p.store), exit: 2, says: /--tls-cert ".*a-file" is not a PEM certificate/ },
  { name: 'serve: unknown flag', command: 'serve', args: (p) => [...serveIn(p.store), '--listen-everywhere'], exit: 2, says: /unknown option '--listen-everywhere'/ },
];

/** Every file below a folder with its size and content digest: what "unchanged" compares. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) {
        out.push(`${relative(dir, path)}/`);
        walk(path);
      } else {
        out.push(`${relative(dir, path)} ${statSync(path).size} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`);
      }
    }
  };
  walk(dir);
  return out.sort();
}

/** A local store release with two images of one name (what a cleanup would prune). */
function seedRelease(store: string): void {
  const images = join(store, 'hotdog', 'images');
  mkdirSync(images, { recursive: true });
  const index: Record<string, unknown> = {};
  for (const timestamp of ['20260101.000000', '20260102.000000']) {
    const file = `acme_webapp_bookworm_hotdog_${timestamp}`;
    writeFileSync(join(images, `${file}.tar.gz`), `image ${timestamp}\n`);
    const checksum = createHash('md5').update(`image ${timestamp}\n`).digest('hex');
    writeFileSync(join(images, `${file}.tar.gz.md5`), `${checksum}  ${file}.tar.gz\n`);
    index[timestamp] = { raw: { webapp: { bookworm: { file, checksum } } } };
  }
  writeFileSync(join(images, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
}

/** Lines any command may print on stderr besides its one error line. */
const PROGRESS_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z /;
const INTERRUPT_NOTICE = /^create_image: SIGINT received, cleaning up\.\.\.$/;
/** Raw characters that could redraw a terminal or reorder a line. */
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

describeWith('bad input: one clear line, the right exit code, nothing stored, no secret shown', [rootUser()], () => {
  let root: string;
  let places: Omit<Places, 'store'>;
  let hanging: Server;
  const held: Socket[] = [];
  const printed: { name: string; result: CliResult }[] = [];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'bad-input-'));
    // Hostile recipe files: a path to /etc/shadow, unknown keys, /dev/zero, an alias bomb.
    const hostile = join(root, 'hostile');
    mkdirSync(join(hostile, 'images'), { recursive: true });
    symlinkSync('/etc/shadow', join(hostile, 'images', 'shadow.yaml'));
    symlinkSync('/dev/zero', join(hostile, 'images', 'zero.yaml'));
    const keys = ['k1', `long${'x'.repeat(200)}`, 'k3', 'k4', 'k5'];
    writeFileSync(
      join(hostile, 'images', 'keys.yaml'),
      `build_type: lxd\nos_versions: [bookworm]\n${keys.map((key) => `${key}: ${URL_PW}`).join('\n')}\n`,
    );
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [name, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd']]) {
      bomb.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    writeFileSync(join(hostile, 'images', 'bomb.yaml'), `${bomb.join('\n')}\n`);
    const bombRosdistro = join(root, 'bomb-rosdistro');
    mkdirSync(join(bombRosdistro, 'config'), { recursive: true });
    writeFileSync(join(bombRosdistro, 'config', 'images.yaml'), `${bomb.join('\n')}\nimages: {bot: {build_type: lxd}}\n`);
    writeFileSync(join(bombRosdistro, 'config', 'recipes.yaml'), 'common: {}\n');
    places = { hostile, bombRosdistro };
    // A mirror that accepts connections and never answers, for the Ctrl-C case.
    hanging = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', () => resolve()));
    hangingUrl = `http://127.0.0.1:${(hanging.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => (hanging ? hanging.close(() => resolve()) : resolve()));
    rmSync(root, { recursive: true, force: true });
  });

  test(`the corpus has at least 60 cases (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  test.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, badCase) => {
    const command = badCase.command ?? 'create_image';
    const store = join(root, 'stores', badCase.name.replace(/\W+/g, '-'));
    mkdirSync(store, { recursive: true });
    writeFileSync(join(store, 'a-file'), 'not a directory\n');
    if (badCase.withRelease) seedRelease(store);
    const before = snapshot(store);
    const work = join(root, 'work');
    const result = await runCommand(command, badCase.args({ ...places, store }), {
      env: { ...BASE_ENV, TAILOR_IMAGE_WORK_DIR: work, ...badCase.env },
      timeoutMs: 60000,
      interruptWhen: badCase.interruptWhen,
    });
    printed.push({ name: badCase.name, result });
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    const errorLines = lines.filter((line) => line.startsWith(`${command}: error: `));
    expect({ errorLines: errorLines.length, stderr: result.stderr.slice(0, 2000) }).toEqual({ errorLines: 1, stderr: result.stderr.slice(0, 2000) });
    expect(errorLines[0]).toMatch(badCase.says);
    expect(errorLines[0].length).toBeLessThanOrEqual(600);
    // Besides it, only progress lines (create_image) and the Ctrl-C notice.
    expect(lines.filter((line) => line !== errorLines[0] && !PROGRESS_LINE.test(line) && !INTERRUPT_NOTICE.test(line))).toEqual([]);
    if (command !== 'create_image') expect(lines).toHaveLength(1);
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(`${result.stdout}${result.stderr}`).not.toMatch(RAW_CONTROL);
    expect(result.code).toBe(badCase.exit);
    expect(snapshot(store)).toEqual(before);
    if (existsSync(work)) expect(readdirSync(work)).toEqual([]);
  }, 70000);

  test('no line printed by any case holds a planted secret or a line of /etc/shadow', () => {
    expect(printed.length).toBe(CASES.length);
    const leaks: string[] = [];
    for (const { name, result } of printed) {
      for (const line of `${result.stdout}\n${result.stderr}`.split('\n')) {
        const lower = line.toLowerCase();
        for (const secret of SECRETS) {
          if (lower.includes(secret.toLowerCase())) leaks.push(`${name}: ${line.slice(0, 200)}`);
        }
        if (/^(root|daemon|bin|sys):[^ ]*:\d+:/.test(line.replace(/^.*error: /, ''))) leaks.push(`${name}: ${line.slice(0, 200)}`);
      }
    }
    expect(leaks).toEqual([]);
  });
});
