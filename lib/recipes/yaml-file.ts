import { readFileSync, statSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { UsageError } from '../core/errors';

/** How much of the YAML library's own message an error shows (it may quote the file). */
const MAX_REASON = 100;
/** Recipes and configurations are small; anything bigger is some other file. */
const MAX_BYTES = 1024 * 1024;

/**
 * Reads a YAML file; a missing file, a syntax error or a document that cannot be turned
 * into data (an alias bomb: too many aliases) becomes one UsageError line naming the file.
 */
export function readYamlFile(path: string): unknown {
  let text: string;
  try {
    // A path may lead anywhere (a symlink to /dev/zero): only regular, small files are read.
    const info = statSync(path);
    if (!info.isFile()) throw new UsageError(`cannot read ${path}: not a regular file`);
    if (info.size > MAX_BYTES) throw new UsageError(`cannot read ${path}: larger than ${MAX_BYTES / 1024 / 1024} MiB (not a recipe or configuration)`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code ?? String(error)}`);
  }
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    const first = document.errors[0];
    const where = first.linePos?.[0] ? ` line ${first.linePos[0].line}` : '';
    throw new UsageError(`${path}:${where} malformed YAML: ${reason(first.message)}`);
  }
  try {
    return document.toJS();
  } catch (error) {
    throw new UsageError(`${path}: cannot be read as YAML: ${reason((error as Error).message)}`);
  }
}

/** The YAML library's message, without its position (said already) or a copy of the text. */
function reason(message: string): string {
  const line = message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  return line.length > MAX_REASON ? `${line.slice(0, MAX_REASON)}…` : line;
}
