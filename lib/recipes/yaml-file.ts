import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { UsageError } from '../core/errors';

/** Reads a YAML file; a missing file or a syntax error becomes one UsageError line. */
export function readYamlFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code ?? String(error)}`);
  }
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    const first = document.errors[0];
    const where = first.linePos?.[0] ? ` line ${first.linePos[0].line}` : '';
    throw new UsageError(`${path}:${where} malformed YAML: ${first.message.split('\n')[0]}`);
  }
  return document.toJS();
}
