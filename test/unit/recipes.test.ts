import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../lib/core/errors';
import { bundledRecipesDir, DirectoryCatalog } from '../../lib/recipes/catalog';
import { recipeJsonSchema } from '../../lib/recipes/json-schema';
import { RosdistroCatalog } from '../../lib/recipes/rosdistro';
import { recipeSourcePath } from '../../lib/recipes/sources';

const ROSDISTRO = join(__dirname, '..', 'fixtures', 'rosdistro');

function catalogWith(files: Record<string, string>): DirectoryCatalog {
  const dir = mkdtempSync(join(tmpdir(), 'catalog-'));
  mkdirSync(join(dir, 'images'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'images', name), text);
  return new DirectoryCatalog(dir);
}

describe('the bundled catalog', () => {
  const catalog = new DirectoryCatalog(bundledRecipesDir());

  test('holds webapp (lxd), wrangler (bare_metal) and dev-env (docker) for jammy, noble and bookworm', () => {
    expect(catalog.names()).toEqual(expect.arrayContaining(['webapp', 'wrangler', 'dev-env']));
    const types = { webapp: 'lxd', wrangler: 'bare_metal', 'dev-env': 'docker' } as const;
    for (const [name, type] of Object.entries(types)) {
      const recipe = catalog.recipe(name);
      expect(recipe.build_type).toBe(type);
      expect(recipe.os_versions).toEqual(expect.arrayContaining(['jammy', 'noble', 'bookworm']));
    }
  });

  test('every bundled recipe passes the schema', () => {
    for (const name of catalog.names()) expect(catalog.recipe(name).name).toBe(name);
  });

  test('a recipe is laid over its build type template', () => {
    const webapp = catalog.recipe('webapp');
    expect(webapp.packages).toEqual(expect.arrayContaining(['systemd-sysv', 'openssh-server', 'nginx']));
    expect(webapp.files.map((f) => f.path)).toEqual(
      expect.arrayContaining(['/etc/systemd/network/10-eth0.network', '/var/www/html/index.html']),
    );
    expect(webapp.user).toMatchObject({ name: 'webapp', sudo: 'nopasswd' });
    expect(webapp.user?.password).toBeUndefined();
  });

  test('common settings come from recipes/common.yaml', () => {
    expect(catalog.common).toMatchObject({ organization: 'acme', release_track: 'hotdog' });
  });

  test('recipes/recipe.schema.json is the schema the code checks', () => {
    expect(readFileSync(join(bundledRecipesDir(), 'recipe.schema.json'), 'utf8')).toBe(recipeJsonSchema());
  });
});

describe('recipe validation', () => {
  const base = 'build_type: lxd\nos_versions: [bookworm]\n';

  test.each([
    ['a bad package name', `${base}packages: ["Not A Package"]\n`, 'packages.0: must be a Debian package name'],
    ['an unknown field', `${base}colour: blue\n`, 'colour'],
    ['an unknown build type', 'build_type: vm\nos_versions: [bookworm]\n', 'build_type'],
    ['no os_versions', 'build_type: lxd\n', 'os_versions'],
    ['two password sources', `${base}user: {name: a, password: {hash: "$6$x$y", env: PW}}\n`, 'exactly one of'],
    ['a relative file path', `${base}files: [{path: etc/x, content: y}]\n`, 'absolute path'],
    ['a file path climbing with ".."', `${base}files: [{path: /etc/../../usr/share/zoneinfo/Etc/UTC, content: y}]\n`, 'files.0.path: must not contain a ".." component'],
    ['a file path ending in ".."', `${base}files: [{path: /etc/.., content: y}]\n`, 'must not contain a ".." component'],
    ['a recipe that is a list', '- build_type: lxd\n', 'must be a mapping'],
  ])('rejects %s with one line naming it', (_, text, message) => {
    const catalog = catalogWith({ 'bad.yaml': text });
    expect(() => catalog.recipe('bad')).toThrow(UsageError);
    expect(() => catalog.recipe('bad')).toThrow(message);
    let error: Error | undefined;
    try {
      catalog.recipe('bad');
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message.split('\n')).toHaveLength(1);
  });

  test('a file path with dots that are not ".." components passes', () => {
    const catalog = catalogWith({ 'dots.yaml': `${base}files: [{path: /etc/..hidden/a..b/.x, content: y}]\n` });
    expect(catalog.recipe('dots').files.map((f) => f.path)).toContain('/etc/..hidden/a..b/.x');
  });

  test('malformed YAML names the file and line', () => {
    const catalog = catalogWith({ 'broken.yaml': `${base}packages: [a, b\nuser: x\n` });
    expect(() => catalog.recipe('broken')).toThrow(/broken\.yaml: line \d+ malformed YAML/);
  });

  test('an unknown image lists the known ones', () => {
    const catalog = catalogWith({ 'one.yaml': base });
    expect(() => catalog.recipe('two')).toThrow('unknown image "two"');
    expect(() => catalog.recipe('two')).toThrow('known: one');
  });

  test('a folder without images/ is not a catalog', () => {
    expect(() => new DirectoryCatalog(tmpdir())).toThrow('is not a recipe catalog');
  });
});

describe('files that are not recipes are named, never shown', () => {
  const messageOf = (catalog: DirectoryCatalog, name: string): string => {
    try {
      catalog.recipe(name);
    } catch (error) {
      expect(error).toBeInstanceOf(UsageError);
      return (error as Error).message;
    }
    throw new Error('no error');
  };

  test('a recipe path leading to a password file says so without its lines', () => {
    const shadowLike = 'root:$y$j9T$PLANTEDHASH:20228:0:99999:7:::\ndaemon:*:20228:0:99999:7:::\n';
    const message = messageOf(catalogWith({ 'shadow.yaml': shadowLike }), 'shadow');
    expect(message).toMatch(/shadow\.yaml is not a recipe: none of its 2 top-level keys is a recipe field/);
    expect(message).not.toMatch(/root|daemon|PLANTED|20228/);
  });

  test('unknown keys of a recipe are named, at most three, each shortened and escaped', () => {
    const keys = ['k1', 'k2', `long${'x'.repeat(200)}`, 'k4', 'k5'];
    const text = `build_type: lxd\nos_versions: [bookworm]\n${keys.map((k) => `${k}: PLANTED-VALUE`).join('\n')}\n"esc\\x1bape": 1\n`;
    const message = messageOf(catalogWith({ 'keys.yaml': text }), 'keys');
    expect(message).toMatch(/unknown keys "k1", "k2", "longx+…" \(204 characters\) and 3 more/);
    expect(message).not.toMatch(/PLANTED|x{40}/);
    expect(message.split('\n')).toHaveLength(1);
  });

  test('an alias bomb is a usage error naming the file', () => {
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [name, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd']]) {
      bomb.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(', ')}]`);
    }
    const message = messageOf(catalogWith({ 'bomb.yaml': `${bomb.join('\n')}\n` }), 'bomb');
    expect(message).toMatch(/bomb\.yaml: cannot be read as YAML: Excessive alias count/);
  });

  test('a recipe path leading to a device or a huge file is not read', () => {
    const catalog = catalogWith({});
    symlinkSync('/dev/zero', join(catalog.dir, 'images', 'zero.yaml'));
    expect(messageOf(catalog, 'zero')).toMatch(/zero\.yaml: not a regular file/);
    writeFileSync(join(catalog.dir, 'images', 'huge.yaml'), Buffer.alloc(2 * 1024 * 1024, 0x61));
    expect(messageOf(catalog, 'huge')).toMatch(/huge\.yaml: larger than 1 MiB/);
  });
});

describe('a tailor rosdistro', () => {
  const catalog = new RosdistroCatalog(ROSDISTRO);

  test('lists config/images.yaml and reads config/recipes.yaml common', () => {
    expect(catalog.names()).toEqual(['bot', 'dev', 'legacy-ami', 'sim']);
    expect(catalog.common).toMatchObject({
      organization: 'locus', release_label: 'hotdog-20.4', apt_repo: 's3://locus-tailor-artifacts',
      cloudfront_distribution_id: 'E2EXAMPLE12345',
    });
  });

  test("maps tailor's fields onto a recipe", () => {
    const bot = catalog.recipe('bot');
    expect(bot).toMatchObject({
      build_type: 'bare_metal',
      os_versions: ['focal', 'jammy', 'bookworm'],
      description: 'Robot image',
      disk_size: 16,
      bundle_flavour: 'bot',
      bundle_distro: 'ros1',
      user: { name: 'locus', password: { env: 'BOT_PASSWORD' }, groups: ['dialout'] },
      ansible: { playbook: 'playbooks/bot.yaml', extra_arguments: ['--tags', 'base', '--skip-tags', 'slow'] },
    });
    expect(bot.baseDir).toBe(ROSDISTRO);
  });

  test('an image without os_versions takes them from common', () => {
    expect(catalog.recipe('dev').os_versions).toEqual(['focal', 'jammy']);
  });

  test('a crypt hash stays a hash', () => {
    expect(catalog.recipe('sim').user?.password).toEqual({ hash: expect.stringMatching(/^\$6\$/) });
  });

  test('an AMI is an ami recipe on the ami template; its source_ami is one warning line', () => {
    const ami = catalog.recipe('legacy-ami');
    expect(ami).toMatchObject({
      build_type: 'ami',
      description: 'Fleet machine on EC2',
      os_versions: ['focal', 'bookworm'],
      boot: { firmware: 'uefi', serial_console: 'ttyS0,115200n8', kernel_cmdline: ['nvme_core.io_timeout=4294967295'] },
    });
    expect(ami.packages).toEqual(expect.arrayContaining(['systemd-sysv', 'udev']));
    expect(ami.warnings).toEqual([
      'image "legacy-ami": source_ami (given for "focal") is not used: build_type ami makes the disk from the distribution, not from another AMI',
    ]);
    expect(ami.warnings?.join('')).not.toContain('ami-0123456789abcdef0');
    // Images without source_ami warn about nothing.
    expect(catalog.recipe('bot').warnings).toBeUndefined();
  });

  test('a missing rosdistro config is a usage error', () => {
    expect(() => new RosdistroCatalog(tmpdir())).toThrow('has no config/images.yaml');
  });
});

describe('files a recipe copies in come from its catalog folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sources-'));
  const catalog = join(dir, 'catalog');
  const other = join(dir, 'other');
  mkdirSync(join(catalog, 'files'), { recursive: true });
  mkdirSync(other);
  writeFileSync(join(catalog, 'files', 'motd'), 'hello\n');
  writeFileSync(join(other, 'extra'), 'extra\n');
  symlinkSync(join(other, 'extra'), join(catalog, 'files', 'link-out'));
  symlinkSync('/etc/passwd', join(catalog, 'files', 'link-to-host'));
  const recipe = { name: 'r', baseDir: catalog };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a relative path is taken from the catalog folder', () => {
    expect(recipeSourcePath(recipe, 'files/motd', 'file source')).toBe(join(realpathSync(catalog), 'files', 'motd'));
  });

  test.each([
    ['an absolute host path', '/etc/passwd'],
    ['a path climbing out with ".."', '../other/extra'],
    ['a link inside the catalog to a host file', 'files/link-to-host'],
    ['a link inside the catalog to another folder', 'files/link-out'],
  ])('refuses %s with one line', (_, path) => {
    expect(() => recipeSourcePath(recipe, path, 'file source')).toThrow(UsageError);
    expect(() => recipeSourcePath(recipe, path, 'file source')).toThrow(
      /^recipe "r": file source \S+ is outside the catalog folder \S+ \(allow its folder with --allow-source-dir\)$/,
    );
  });

  test('a folder given with --allow-source-dir is allowed', () => {
    expect(recipeSourcePath(recipe, '../other/extra', 'file source', [other])).toBe(join(realpathSync(other), 'extra'));
    expect(recipeSourcePath(recipe, 'files/link-out', 'file source', [other])).toBe(join(realpathSync(other), 'extra'));
    expect(() => recipeSourcePath(recipe, '/etc/passwd', 'file source', [other])).toThrow(/outside the catalog folder/);
  });

  test('a missing file and a folder are refused', () => {
    expect(() => recipeSourcePath(recipe, 'files/nope', 'playbook')).toThrow(`recipe "r": playbook ${join(catalog, 'files', 'nope')} does not exist`);
    expect(() => recipeSourcePath(recipe, 'files', 'file source')).toThrow(/is not a file/);
  });
});
