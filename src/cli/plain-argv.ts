// A commander-free reader of ordinary command lines, for the subcommands whose start is timed
// (`distcomp ssh`, issue 5; `distcomp submit`, issue 4): loading and building commander took
// 10-30 ms of each run on our 2-core machines. Each subcommand keeps one option table; its
// commander definition is built from the same table and still serves help, errors and every
// line this reader declines, so both read a command line alike (tests compare them).
import type { Command } from 'commander';
import { parseArgs } from 'node:util';

export interface CliOption {
  /** commander's form: `-p, --port <port>`, `--remove-workdir`. */
  flags: string;
  description: string;
  /** Applied when the option is absent (as commander does). */
  defaultValue?: string;
  /** May be given again; the values are collected into an array, in order. */
  repeatable?: boolean;
}

interface Spec {
  long: string;
  short: string | undefined;
  takesValue: boolean;
  key: string;
  defaultValue: string | undefined;
  repeatable: boolean;
}

function specOf(o: CliOption): Spec {
  const m = /^(?:-([A-Za-z]), )?--([a-z][a-z-]*)( <[^>]+>)?$/.exec(o.flags);
  if (!m?.[2]) throw new Error(`bad option definition ${o.flags}`);
  const long = m[2];
  return {
    long,
    short: m[1],
    takesValue: m[3] !== undefined,
    key: long.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()),
    defaultValue: o.defaultValue,
    repeatable: o.repeatable === true,
  };
}

/**
 * A reader for one option table: `args` (after the subcommand's name) to positionals and
 * commander's camelCase flags, or undefined when the line is one for commander: help, an
 * unknown or malformed option, a value that looks like an option, grouped or attached short
 * options (`-vp`, `-p22`), a positional that starts with `-`. Only plain forms are taken:
 * `--name`, `--name value`, `--name=value`, `-x`, `-x value`, words, and `--`.
 */
export function plainArgvReader(table: readonly CliOption[]): (args: readonly string[]) => { positionals: string[]; flags: Record<string, unknown> } | undefined {
  const specs = table.map(specOf);
  const options = Object.fromEntries(specs.map((s) => [s.long, {
    type: s.takesValue ? 'string' : 'boolean',
    ...(s.short === undefined ? {} : { short: s.short }),
    ...(s.repeatable ? { multiple: true } : {}),
  }])) as NonNullable<Parameters<typeof parseArgs>[0]>['options'];
  return (args) => {
    const end = args.indexOf('--');
    for (const arg of end === -1 ? args : args.slice(0, end)) {
      if (arg.startsWith('-') && !arg.startsWith('--') && arg.length !== 2) return undefined;
    }
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({ args: [...args], allowPositionals: true, strict: true, options });
    } catch {
      return undefined;
    }
    const flags: Record<string, unknown> = {};
    for (const s of specs) {
      const value = parsed.values[s.long];
      if (value !== undefined) flags[s.key] = value;
      else if (s.defaultValue !== undefined) flags[s.key] = s.defaultValue;
    }
    return { positionals: parsed.positionals, flags };
  };
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** Declares the table's options on a commander command (the definition that serves help and errors). */
export function addCliOptions(command: Command, table: readonly CliOption[]): Command {
  for (const o of table) {
    if (o.repeatable) command.option(o.flags, o.description, collect);
    else if (o.defaultValue !== undefined) command.option(o.flags, o.description, o.defaultValue);
    else command.option(o.flags, o.description);
  }
  return command;
}
