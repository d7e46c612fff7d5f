import { z } from 'zod';
import { ARCHITECTURES } from '../core/architecture';
import { BUILD_TYPES } from '../core/image';
import { escapeControls, quote } from '../core/message-text';

/**
 * The recipe schema. Recipes are YAML files in recipes/ (one per image) layered over a
 * template for their build type (recipes/templates/<build_type>.yaml). The same schema is
 * written out as JSON Schema (recipes/recipe.schema.json) so editors can complete recipes.
 */

export { BUILD_TYPES, type BuildType } from '../core/image';

const shellSafeName = z
  .string()
  .regex(/^[a-z_][a-z0-9_-]*$/, 'must be a lower-case user or group name');

/**
 * Where a password comes from. Exactly one source. The value read may be a crypt(3)
 * hash (starting with "$") or a plain password, which is hashed at build time and never
 * written anywhere in clear. There is no default password: without this the account has
 * no password at all (log in with ssh keys or the console's autologin).
 */
export const PasswordSourceSchema = z
  .object({
    hash: z.string().regex(/^\$[0-9a-z]+\$/, 'must be a crypt(3) hash such as $6$... or $y$...').optional()
      .describe('A crypt(3) hash, safe to keep in a recipe.'),
    env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional()
      .describe('Name of an environment variable that holds the hash or the password.'),
    file: z.string().min(1).optional()
      .describe('Path of a file that holds the hash or the password (relative to the recipe).'),
    plain: z.string().min(1).optional()
      .describe('Discouraged: a clear password kept in the recipe (tailor rosdistros did this); prefer hash or env.'),
  })
  .strict()
  .refine((p) => [p.hash, p.env, p.file, p.plain].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of hash, env, file or plain',
  });
export type PasswordSource = z.infer<typeof PasswordSourceSchema>;

export const UserSchema = z
  .object({
    name: shellSafeName.describe('The login created in the image.'),
    password: PasswordSourceSchema.optional(),
    groups: z.array(shellSafeName).default([]).describe('Extra groups (created when missing).'),
    sudo: z.enum(['password', 'nopasswd', 'none']).default('password')
      .describe('sudo rights: asking for the password, without it, or none.'),
    shell: z.string().default('/bin/bash'),
    authorized_keys: z.array(z.string().regex(/^(ssh-|ecdsa-|sk-)/, 'must be an OpenSSH public key')).default([]),
  })
  .strict();
export type User = z.infer<typeof UserSchema>;

export const FileSchema = z
  .object({
    path: z
      .string()
      .regex(/^\//, 'must be an absolute path inside the image')
      .regex(/^(?!.*(?:^|\/)\.\.(?:\/|$))/, 'must not contain a ".." component'),
    content: z.string().optional(),
    source: z.string().optional().describe('A file to copy in, in the catalog folder (relative to it) or a folder --allow-source-dir names.'),
    mode: z.string().regex(/^[0-7]{3,4}$/).default('0644'),
    owner: z.string().default('root:root'),
  })
  .strict()
  .refine((f) => (f.content === undefined) !== (f.source === undefined), {
    message: 'give exactly one of content or source',
  });
export type RecipeFile = z.infer<typeof FileSchema>;

export const AnsibleSchema = z
  .object({
    playbook: z.string().min(1).describe('Playbook path, relative to the recipe catalog.'),
    extra_arguments: z.array(z.string()).default([]),
    command: z.string().default('ansible-playbook'),
  })
  .strict();

export const OrgRepoSchema = z
  .object({
    key: z.string().optional().describe('Armored or binary OpenPGP key that signs the org repository.'),
    allow_unsigned: z.boolean().default(false).describe('Accept an unsigned org repository.'),
    keep_source: z.boolean().default(false).describe('Keep the org source (and its key) in the image.'),
  })
  .strict();

export const BootSchema = z
  .object({
    firmware: z.enum(['uefi', 'bios']).default('uefi'),
    serial_console: z.string().default('ttyS0,115200'),
    kernel_cmdline: z.array(z.string()).default([]),
    /** The kernel package, when not the distribution's generic one (e.g. linux-image-cloud-amd64 for VMs). */
    kernel: z.string().regex(/^[a-z0-9][a-z0-9.+-]+$/, 'a Debian package name').optional(),
  })
  .strict();

export const DockerSchema = z
  .object({
    env: z.record(z.string(), z.string()).default({}),
    labels: z.record(z.string(), z.string()).default({}),
    cmd: z.array(z.string()).default(['bash']),
    repository: z.string().optional().describe('Registry repository; default: the organization.'),
  })
  .strict();

export const ImageTestSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'must be a short lower-case name').describe('Named in the log and in the results.'),
    run: z.string().min(1).describe('A shell command run inside the running image (as root; in a docker image, as its user); it must exit 0.'),
    timeout: z.number().int().positive().max(3600).default(120).describe('Seconds the command may take.'),
  })
  .strict();
export type ImageTest = z.infer<typeof ImageTestSchema>;

/** The fields a recipe and a template may set. Templates leave out name/os_versions. */
const recipeFields = {
  description: z.string().default(''),
  build_type: z.enum(BUILD_TYPES),
  os_versions: z.array(z.string()).min(1).describe('Distributions this image may be built for.'),
  architectures: z
    .array(z.enum(ARCHITECTURES))
    .min(1)
    .default(['amd64'])
    .refine((archs) => new Set(archs).size === archs.length, { message: 'architectures must be listed once each' })
    .describe('CPU architectures this image may be built for (--arch); amd64 when absent.'),
  variant: z.enum(['minbase', 'apt', 'required', 'important', 'standard']).default('apt')
    .describe('The mmdebstrap variant the rootfs starts from.'),
  minimise: z.boolean().default(false)
    .describe('Leave documentation, man and info pages and translations out at install time (dpkg path-exclude; copyright files stay).'),
  packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.-]*$/, 'must be a Debian package name')).default([]),
  hostname: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/).optional(),
  user: UserSchema.optional(),
  files: z.array(FileSchema).default([]),
  shell: z.array(z.string()).default([]).describe('Shell commands run in the image, in order.'),
  ansible: AnsibleSchema.optional(),
  org_repo: OrgRepoSchema.default({ allow_unsigned: false, keep_source: false }),
  bundle_flavour: z.string().optional(),
  bundle_distro: z.string().optional().describe('The tailor bundle distro (e.g. ros2) used for BUNDLE_ROOT.'),
  disk_size: z.number().positive().max(2048).default(8).describe('Upper bound of a bare-metal disk, in GB.'),
  boot: BootSchema.default({ firmware: 'uefi', serial_console: 'ttyS0,115200', kernel_cmdline: [] }),
  docker: DockerSchema.default({ env: {}, labels: {}, cmd: ['bash'] }),
  tests: z
    .array(ImageTestSchema)
    .default([])
    .refine((tests) => new Set(tests.map((t) => t.name)).size === tests.length, { message: 'test names must be unique' })
    .describe('Commands that must succeed inside the running image before it is stored (with the built-in checks).'),
};

export const RecipeSchema = z.object(recipeFields).strict();
export type Recipe = z.infer<typeof RecipeSchema> & {
  name: string;
  origin: string;
  baseDir: string;
  /** What the catalog read and will not use (one line each), shown as warnings before the build. */
  warnings?: string[];
};

/** A template is a partial recipe: any field, none required. */
export const TemplateSchema = z
  .object({
    description: z.string().optional(),
    variant: recipeFields.variant.optional(),
    packages: z.array(z.string()).optional(),
    hostname: z.string().optional(),
    user: UserSchema.optional(),
    files: z.array(FileSchema).optional(),
    shell: z.array(z.string()).optional(),
    disk_size: z.number().optional(),
    boot: BootSchema.partial().optional(),
    docker: DockerSchema.partial().optional(),
  })
  .strict();
export type Template = z.infer<typeof TemplateSchema>;

/** The organisation-wide defaults (recipes/common.yaml, or a rosdistro's config/recipes.yaml `common`). */
export const CommonConfigSchema = z
  .object({
    organization: z.string().default('acme'),
    release_track: z.string().default('hotdog'),
    release_label: z.string().optional(),
    flavour: z.string().optional(),
    apt_repo: z.string().optional(),
    docker_registry: z.string().optional(),
    cloudfront_distribution_id: z.string().optional(),
    mirror: z.string().optional(),
    security_mirror: z.string().optional(),
    local_storage_path: z.string().optional(),
  })
  .passthrough();
export type CommonConfig = z.infer<typeof CommonConfigSchema>;

/** How much of a key an error shows. */
const KEY_CHARS = 32;

/**
 * Formats zod issues as one line: "packages.2: must be a Debian package name; ...".
 * Errors name keys (escaped, shortened, at most three unknown ones) and never show values.
 */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => {
      const where = issue.path.length ? issue.path.map((part) => shortKey(String(part))).join('.') : '(top)';
      if (issue.code === 'unrecognized_keys') {
        const keys = issue.keys;
        const more = keys.length > 3 ? ` and ${keys.length - 3} more` : '';
        return `${where}: unknown key${keys.length > 1 ? 's' : ''} ${keys.slice(0, 3).map((key) => quote(key, KEY_CHARS)).join(', ')}${more}`;
      }
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}

function shortKey(key: string): string {
  const shown = Array.from(escapeControls(key));
  return shown.length > KEY_CHARS ? `${shown.slice(0, KEY_CHARS).join('')}…` : shown.join('');
}
