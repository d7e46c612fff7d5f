import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { BuildError, UsageError } from '../core/errors';
import { PasswordSource } from '../recipes/schema';

/** A password ready for chpasswd: a crypt(3) hash (chpasswd -e) or a clear one to hash. */
export interface ResolvedPassword {
  kind: 'hash' | 'plain';
  value: string;
}

/**
 * Reads the password a recipe names. Values are read once, kept in memory only, and fed
 * to chpasswd on standard input; they never reach an argument list, a log or the image
 * in clear.
 */
export function resolvePassword(source: PasswordSource, baseDir: string, env = process.env): ResolvedPassword {
  let value: string;
  if (source.hash !== undefined) value = source.hash;
  else if (source.plain !== undefined) value = source.plain;
  else if (source.env !== undefined) {
    const fromEnv = env[source.env];
    if (fromEnv === undefined || fromEnv === '') {
      throw new BuildError(`the user's password is read from $${source.env}, which is not set`);
    }
    value = fromEnv;
  } else {
    const path = isAbsolute(source.file!) ? source.file! : join(baseDir, source.file!);
    try {
      value = readFileSync(path, 'utf8');
    } catch (error) {
      throw new BuildError(`cannot read the password file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
  }
  value = value.replace(/\r?\n$/, '');
  if (value.includes('\n') || value.includes(':')) {
    throw new UsageError('the password (or hash) must be one line without ":"');
  }
  if (value === '') throw new UsageError('the password must not be empty');
  return { kind: /^\$[0-9a-z]+\$/.test(value) ? 'hash' : 'plain', value };
}
