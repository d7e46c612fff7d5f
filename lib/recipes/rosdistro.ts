import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../core/errors';
import { quote } from '../core/message-text';
import { Catalog, loadTemplate, parseRecipe, readCommon, unknownImage } from './catalog';
import { CommonConfig, Recipe } from './schema';
import { readYamlFile } from './yaml-file';

/**
 * Reads a tailor rosdistro: `config/images.yaml` (`images:` name → settings) and
 * `config/recipes.yaml` (`common:` organisation settings), mapping tailor's fields onto
 * recipes. Fields tailor needed for Packer and that this builder has no use for
 * (base_image, package) are accepted and ignored; an AMI's source_ami is read and named in
 * one warning (the recipe's `warnings`), since this builder makes AMIs from the
 * distribution, not from another AMI.
 */
export class RosdistroCatalog implements Catalog {
  readonly source: string;
  readonly common: CommonConfig;
  private readonly images: Record<string, unknown>;

  constructor(readonly root: string) {
    this.source = `rosdistro ${root}`;
    const imagesFile = join(root, 'config', 'images.yaml');
    const recipesFile = join(root, 'config', 'recipes.yaml');
    if (!existsSync(imagesFile)) throw new UsageError(`--rosdistro-path ${root} has no config/images.yaml`);
    if (!existsSync(recipesFile)) throw new UsageError(`--rosdistro-path ${root} has no config/recipes.yaml`);
    const document = readYamlFile(imagesFile) as { images?: unknown } | null;
    if (!document || typeof document !== 'object' || !document.images || typeof document.images !== 'object') {
      throw new UsageError(`${imagesFile} has no "images:" mapping`);
    }
    this.images = document.images as Record<string, unknown>;
    this.common = readCommon(recipesFile);
  }

  names(): string[] {
    return Object.keys(this.images).sort();
  }

  recipe(name: string): Recipe {
    if (!Object.hasOwn(this.images, name)) throw unknownImage(name, this.names(), this.source);
    const origin = join(this.root, 'config', 'images.yaml');
    const entry = this.images[name];
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new UsageError(`${origin}: image "${name}" must be a mapping of fields`);
    }
    const tailor = entry as Record<string, unknown>;
    const recipe = parseRecipe(name, this.toRecipe(name, tailor), origin, this.root, (type) => loadTemplate(this.root, type));
    const warning = sourceAmiWarning(name, tailor);
    return warning ? { ...recipe, warnings: [warning] } : recipe;
  }

  private toRecipe(name: string, tailor: Record<string, unknown>): Record<string, unknown> {
    const recipe: Record<string, unknown> = {
      description: tailor.description ?? '',
      build_type: tailor.build_type,
      os_versions: tailor.os_versions ?? this.common.os_versions,
    };
    if (tailor.architectures !== undefined) recipe.architectures = tailor.architectures;
    if (tailor.disk_size !== undefined) recipe.disk_size = Number(tailor.disk_size);
    if (tailor.bundle_flavour !== undefined) recipe.bundle_flavour = tailor.bundle_flavour;
    if (tailor.distro !== undefined) recipe.bundle_distro = tailor.distro;
    if (tailor.packages !== undefined) recipe.packages = tailor.packages;
    if (tailor.username !== undefined) {
      const user: Record<string, unknown> = { name: tailor.username };
      if (typeof tailor.password === 'string') user.password = passwordSource(tailor.password);
      if (typeof tailor.group === 'string') user.groups = [tailor.group];
      recipe.user = user;
    }
    if (tailor.provision_file !== undefined) {
      const playbook = this.findPlaybook(name, String(tailor.provision_file));
      recipe.ansible = {
        playbook,
        extra_arguments: typeof tailor.extra_arguments_ansible === 'string'
          ? tailor.extra_arguments_ansible.split(/\s+/).filter(Boolean)
          : [],
        ...(typeof tailor.ansible_command === 'string' ? { command: tailor.ansible_command } : {}),
      };
    }
    return recipe;
  }

  private findPlaybook(name: string, file: string): string {
    for (const candidate of [join('playbooks', file), join('config', 'playbooks', file), file]) {
      if (existsSync(join(this.root, candidate))) return candidate;
    }
    throw new UsageError(`image "${name}": provision_file ${file} not found under ${this.root}/playbooks`);
  }
}

/**
 * tailor built an AMI on top of another (`source_ami`, one per distribution, for Packer's
 * amazon-ebs); this builder makes the disk from the distribution. Said once, naming the
 * distributions it gave, never the AMI ids' values beyond their count.
 */
export function sourceAmiWarning(name: string, tailor: Record<string, unknown>): string | undefined {
  if (tailor.build_type !== 'ami' || tailor.source_ami === undefined) return undefined;
  const given = tailor.source_ami;
  const which = given && typeof given === 'object' && !Array.isArray(given)
    ? ` (given for ${Object.keys(given).map((key) => quote(key)).join(', ') || 'no distribution'})`
    : '';
  return `image "${name}": source_ami${which} is not used: build_type ami makes the disk from the distribution, not from another AMI`;
}

/** tailor kept passwords in clear; a "$..." value is a hash, "env:VAR" reads a variable. */
function passwordSource(value: string): Record<string, string> {
  if (value.startsWith('$')) return { hash: value };
  if (value.startsWith('env:')) return { env: value.slice(4) };
  if (value.startsWith('file:')) return { file: value.slice(5) };
  return { plain: value };
}
