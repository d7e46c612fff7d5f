import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ImageFactory, ImageFactoryProps } from '../../lib/constructs/image-factory';

export interface CatalogRecipe {
  name: string;
  build_type: 'lxd' | 'bare_metal' | 'docker' | 'ami';
  os_versions: string[];
  /** The recipe's `architectures` (absent: the schema's default, amd64). */
  architectures?: Array<'amd64' | 'arm64'>;
  ansible?: boolean;
  /** The recipe's user reads its password from this variable. */
  passwordEnv?: string;
  bundle_flavour?: string;
  docker_repository?: string;
}

/**
 * Writes a recipe catalog directory (common.yaml, images/, playbooks/) into a new temp
 * folder, for the construct tests and the synth benchmark.
 */
export function writeCatalog(recipes: CatalogRecipe[], common: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tailor-image-catalog-'));
  mkdirSync(join(dir, 'images'));
  mkdirSync(join(dir, 'playbooks'));
  writeFileSync(join(dir, 'playbooks', 'site.yml'), '- hosts: all\n  tasks: []\n');
  const commonLines = Object.entries({ organization: 'acme', release_track: 'hotdog', release_label: 'hotdog', ...common })
    .map(([k, v]) => `  ${k}: ${v}`);
  writeFileSync(join(dir, 'common.yaml'), `common:\n${commonLines.join('\n')}\n`);
  for (const recipe of recipes) {
    const lines = [
      `description: ${recipe.name} test recipe`,
      `build_type: ${recipe.build_type}`,
      `os_versions: [${recipe.os_versions.join(', ')}]`,
      'packages: [curl]',
    ];
    if (recipe.architectures) lines.push(`architectures: [${recipe.architectures.join(', ')}]`);
    if (recipe.ansible) lines.push('ansible:', '  playbook: playbooks/site.yml');
    if (recipe.passwordEnv) lines.push('user:', '  name: operator', '  password:', `    env: ${recipe.passwordEnv}`);
    if (recipe.bundle_flavour) lines.push(`bundle_flavour: ${recipe.bundle_flavour}`);
    if (recipe.docker_repository) lines.push('docker:', `  repository: ${recipe.docker_repository}`);
    writeFileSync(join(dir, 'images', `${recipe.name}.yaml`), `${lines.join('\n')}\n`);
  }
  return dir;
}

/** The catalog most construct tests use: one recipe of each build type. */
export function standardCatalog(): string {
  return writeCatalog([
    { name: 'webapp', build_type: 'lxd', os_versions: ['jammy', 'noble', 'bookworm'], ansible: true },
    { name: 'wrangler', build_type: 'bare_metal', os_versions: ['jammy', 'noble', 'bookworm'] },
    { name: 'dev-env', build_type: 'docker', os_versions: ['jammy', 'noble', 'bookworm'] },
  ]);
}

/**
 * Resolves a synthesized state machine definition (a Fn::Join of strings and
 * references) into its JSON, references shown as `<Ref:LogicalId>` / `<GetAtt:LogicalId.Attr>`.
 */
export function stateMachineDefinition(definition: unknown): Record<string, any> {
  const flatten = (node: unknown): string => {
    if (typeof node === 'string') return node;
    const value = node as Record<string, unknown>;
    if (value['Fn::Join']) {
      const [sep, parts] = value['Fn::Join'] as [string, unknown[]];
      return parts.map(flatten).join(sep);
    }
    if (value.Ref) return `<Ref:${String(value.Ref)}>`;
    if (value['Fn::GetAtt']) return `<GetAtt:${(value['Fn::GetAtt'] as string[]).join('.')}>`;
    throw new Error(`unexpected definition part ${JSON.stringify(node)}`);
  };
  return JSON.parse(flatten(definition));
}

/** A tailor rosdistro (config/images.yaml + config/recipes.yaml) in a new temp folder. */
export function writeRosdistro(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tailor-image-rosdistro-'));
  mkdirSync(join(dir, 'config'));
  writeFileSync(join(dir, 'config', 'recipes.yaml'), 'common:\n  organization: locus\n  release_track: hotdog\n  release_label: hotdog\n  os_versions: [jammy]\n');
  writeFileSync(join(dir, 'config', 'images.yaml'), [
    'images:',
    '  bot:',
    '    build_type: bare_metal',
    '    os_versions: [jammy, noble]',
    '    description: robot image',
    '  sim:',
    '    build_type: lxd',
    '    description: simulator container',
    '',
  ].join('\n'));
  return dir;
}

/** A stack holding one ImageFactory (CloudFormation's own validation off: it is slow and not ours). */
export function factoryStack(props: ImageFactoryProps | ((stack: Stack) => ImageFactoryProps) = {}) {
  process.env.CDK_VALIDATION = 'false';
  const app = new App();
  const stack = new Stack(app, 'Factory', { env: { account: '123456789012', region: 'eu-west-1' } });
  const factory = new ImageFactory(stack, 'Factory', typeof props === 'function' ? props(stack) : props);
  const template = Template.fromStack(stack);
  const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: Record<string, any> }>;
  const idOf = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);
  return { app, stack, factory, template, resources, idOf };
}
