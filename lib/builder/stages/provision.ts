import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { UsageError } from '../../core/errors';
import { mountChroot } from '../chroot';
import { BuildContext, BuildPlan, Stage } from '../context';
import { hostnameOf } from '../hostname';
import { run } from '../../core/exec';
import { requireHostTools } from '../../core/host-tools';
import { BuildRequest } from '../request';
import { resolvePassword } from '../secrets';
import { checkOrgRepo, installBundle, orgRepoFor } from '../org-repo';

/**
 * provision: everything that happens inside the image: the org bundle, the user,
 * hostname, files, shell steps and the ansible playbook, in that order.
 */
export const provisionStage: Stage = {
  name: 'provision',

  describe(ctx) {
    const parts = [
      ctx.request.installBundle ? 'bundle' : undefined,
      ctx.request.recipe.user ? `user ${ctx.request.recipe.user.name}` : undefined,
      ctx.request.recipe.files.length ? `${ctx.request.recipe.files.length} files` : undefined,
      ctx.request.recipe.shell.length ? `${ctx.request.recipe.shell.length} shell steps` : undefined,
      ctx.request.recipe.ansible ? 'ansible' : undefined,
    ].filter(Boolean);
    return parts.join(', ') || 'hostname';
  },

  async verify(ctx) {
    const { recipe } = ctx.request;
    requireHostTools([
      { command: 'chroot', package: 'coreutils' },
      { command: 'mount', package: 'mount' },
    ]);
    const repo = orgRepoFor(ctx);
    if (repo) await checkOrgRepo(repo, ctx.signal);
    if (recipe.user?.password) ctx.password = resolvePassword(recipe.user.password, recipe.baseDir);
    for (const file of recipe.files) {
      if (file.source !== undefined && !existsSync(sourcePath(ctx, file.source))) {
        throw new UsageError(`recipe "${recipe.name}": file source ${sourcePath(ctx, file.source)} does not exist`);
      }
    }
    if (recipe.ansible) {
      const playbook = sourcePath(ctx, recipe.ansible.playbook);
      if (!existsSync(playbook)) throw new UsageError(`recipe "${recipe.name}": playbook ${playbook} does not exist`);
      requireHostTools([{ command: recipe.ansible.command, package: 'ansible' }]);
    }
  },

  async run(ctx) {
    ctx.chroot ??= await mountChroot(ctx.rootfs, ctx.log, ctx.cleanups, ctx.signal);
    const repo = orgRepoFor(ctx);
    if (repo) await installBundle(ctx, repo);
    await writeHostname(ctx);
    if (ctx.request.recipe.user) await createUser(ctx);
    for (const file of ctx.request.recipe.files) await placeFile(ctx, file);
    for (const [i, step] of ctx.request.recipe.shell.entries()) {
      await ctx.chroot.run(['/bin/sh', '-e', '-c', step], { describe: `shell step ${i + 1}` });
    }
    if (ctx.request.recipe.ansible) await runPlaybook(ctx);
  },
};

function sourcePath(plan: BuildPlan, path: string): string {
  return isAbsolute(path) ? path : join(plan.request.recipe.baseDir, path);
}

async function writeHostname(ctx: BuildContext): Promise<void> {
  const hostname = hostnameOf(ctx.request.recipe);
  await writeFile(join(ctx.rootfs, 'etc/hostname'), `${hostname}\n`);
  await chmod(join(ctx.rootfs, 'etc/hostname'), 0o644);
  await writeFile(
    join(ctx.rootfs, 'etc/hosts'),
    `127.0.0.1\tlocalhost\n127.0.1.1\t${hostname}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n`,
  );
  await chmod(join(ctx.rootfs, 'etc/hosts'), 0o644);
}

async function createUser(ctx: BuildContext): Promise<void> {
  const user = ctx.request.recipe.user!;
  const chroot = ctx.chroot!;
  const groups = [...user.groups, ...(user.sudo === 'password' ? ['sudo'] : [])];
  for (const group of groups) {
    await chroot.run(['groupadd', '--force', group], { describe: `groupadd ${group}` });
  }
  await chroot.run(
    ['useradd', '--create-home', '--shell', user.shell, ...(groups.length ? ['--groups', groups.join(',')] : []), user.name],
    { describe: `useradd ${user.name}` },
  );
  if (ctx.password) {
    // The secret goes through standard input only.
    const hashed = ctx.password.kind === 'hash';
    await chroot.run(hashed ? ['chpasswd', '--encrypted'] : ['chpasswd'], {
      input: `${user.name}:${ctx.password.value}\n`,
      describe: `chpasswd ${user.name}`,
    });
  }
  if (user.sudo === 'nopasswd') {
    const sudoers = join(ctx.rootfs, 'etc/sudoers.d', `90-tailor-${user.name}`);
    await mkdir(dirname(sudoers), { recursive: true });
    await writeFile(sudoers, `${user.name} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 });
  }
  if (user.authorized_keys.length > 0) {
    const home = `/home/${user.name}`;
    await mkdir(join(ctx.rootfs, home, '.ssh'), { recursive: true, mode: 0o700 });
    await writeFile(join(ctx.rootfs, home, '.ssh/authorized_keys'), `${user.authorized_keys.join('\n')}\n`, { mode: 0o600 });
    await chroot.run(['chown', '-R', `${user.name}:${user.name}`, `${home}/.ssh`]);
  }
}

async function placeFile(ctx: BuildContext, file: BuildRequest['recipe']['files'][number]): Promise<void> {
  const target = join(ctx.rootfs, file.path);
  await mkdir(dirname(target), { recursive: true });
  const content = file.content ?? readFileSync(sourcePath(ctx, file.source!));
  await writeFile(target, content);
  await chmod(target, parseInt(file.mode, 8));
  await ctx.chroot!.run(['chown', file.owner, file.path], { describe: `chown ${file.path}` });
}

async function runPlaybook(ctx: BuildContext): Promise<void> {
  const ansible = ctx.request.recipe.ansible!;
  const { request } = ctx;
  const variables = {
    image_name: request.imageName,
    distribution: request.distribution.codename,
    organization: request.organization,
    release_label: request.releaseLabel,
    flavour: request.flavour,
    username: ctx.request.recipe.user?.name ?? 'root',
  };
  await run(
    ansible.command,
    [
      '--inventory', `${ctx.rootfs},`,
      '--connection', 'community.general.chroot',
      '--extra-vars', JSON.stringify(variables),
      ...ansible.extra_arguments,
      sourcePath(ctx, ansible.playbook),
    ],
    {
      log: ctx.log,
      signal: ctx.signal,
      describe: `ansible playbook ${ansible.playbook}`,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        LANG: 'C.UTF-8',
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_HOST_KEY_CHECKING: 'False',
        ANSIBLE_RETRY_FILES_ENABLED: 'False',
        ANSIBLE_PYTHON_INTERPRETER: '/usr/bin/python3',
      },
    },
  );
}
