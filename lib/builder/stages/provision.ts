import { mountChroot } from '../chroot';
import { sourceDateEnvOf } from '../source-date';
import { BuildContext, BuildPlan, Stage } from '../context';
import { hostnameOf } from '../hostname';
import { run } from '../../core/exec';
import { requireHostTools } from '../../core/host-tools';
import { recipeSourcePath } from '../../recipes/sources';
import { BuildRequest } from '../request';
import { Rootfs } from '../rootfs-path';
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
      if (file.source !== undefined) sourcePath(ctx, file.source, 'file source');
    }
    if (recipe.ansible) {
      sourcePath(ctx, recipe.ansible.playbook, 'playbook');
      requireHostTools([{ command: recipe.ansible.command, package: 'ansible' }]);
    }
  },

  async run(ctx) {
    ctx.chroot ??= await mountChroot(ctx.rootfs, ctx.log, ctx.cleanups, ctx.signal, sourceDateEnvOf(ctx.request));
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

/** A host file the recipe names, inside its catalog folder or a folder --allow-source-dir allows. */
function sourcePath(plan: BuildPlan, path: string, what: string): string {
  return recipeSourcePath(plan.request.recipe, path, what, plan.request.allowedSourceDirs);
}

async function writeHostname(ctx: BuildContext): Promise<void> {
  const hostname = hostnameOf(ctx.request.recipe);
  const image = new Rootfs(ctx.rootfs);
  await image.writeFile('/etc/hostname', `${hostname}\n`, { mode: 0o644 });
  await image.writeFile(
    '/etc/hosts',
    `127.0.0.1\tlocalhost\n127.0.1.1\t${hostname}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n`,
    { mode: 0o644 },
  );
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
  const image = new Rootfs(ctx.rootfs);
  if (user.sudo === 'nopasswd') {
    await image.writeFile(`/etc/sudoers.d/90-tailor-${user.name}`, `${user.name} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 });
  }
  if (user.authorized_keys.length > 0) {
    const home = `/home/${user.name}`;
    await image.mkdirp(`${home}/.ssh`, 0o700);
    await image.writeFile(`${home}/.ssh/authorized_keys`, `${user.authorized_keys.join('\n')}\n`, { mode: 0o600 });
    await chroot.run(['chown', '-R', `${user.name}:${user.name}`, `${home}/.ssh`]);
  }
}

async function placeFile(ctx: BuildContext, file: BuildRequest['recipe']['files'][number]): Promise<void> {
  const image = new Rootfs(ctx.rootfs);
  const mode = parseInt(file.mode, 8);
  if (file.content !== undefined) await image.writeFile(file.path, file.content, { mode });
  else await image.copyIn(sourcePath(ctx, file.source!, 'file source'), file.path, { mode });
  await ctx.chroot!.run(['chown', '--no-dereference', file.owner, file.path], { describe: `chown ${file.path}` });
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
      sourcePath(ctx, ansible.playbook, 'playbook'),
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
        ...sourceDateEnvOf(request),
      },
    },
  );
}
