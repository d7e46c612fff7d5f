import { Command } from 'commander';
import { UsageError } from '../core/errors';
import { safeLine } from '../core/message-text';

/**
 * What every command's flags share: a flag that takes one value may be given once (a
 * repeated `--distribution` or `--num-to-keep` is a mistake commander would settle
 * silently by keeping the last), and commander's own error lines are one line, escaped,
 * cut and redacted like every other.
 */

/**
 * Makes a second occurrence of any single-value flag a usage error. Repeatable flags
 * (`repeatable`, e.g. --name) and flags without a value are left alone. The message names
 * the flag, never the values (they may hold credentials).
 */
export function refuseRepeatedFlags(command: Command, repeatable: readonly string[] = []): Command {
  const seen = new Set<string>();
  for (const option of command.options) {
    const takesValue = option.required || option.optional;
    if (!takesValue || option.variadic || repeatable.includes(option.long ?? '')) continue;
    const flag = option.long ?? option.short ?? option.flags;
    command.on(`option:${option.name()}`, () => {
      if (seen.has(flag)) throw new UsageError(`${flag} is given twice (it takes one value; give it once)`);
      seen.add(flag);
    });
  }
  return command;
}

/** commander's error output as one safe line: `<command>: error: <what is wrong>`. */
export function commanderErrorOutput(name: string) {
  return {
    outputError: (text: string, write: (line: string) => void) => {
      const line = text.split('\n').map((part) => part.trim()).filter(Boolean).join(' ');
      write(`${name}: ${safeLine(line)}\n`);
    },
  };
}
