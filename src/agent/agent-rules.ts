// The external computer's administrator's rules, from a JSON file: which commands may run
// here, which result files may leave and how big, and what happens to working directories.
// The relay's own list of commands is the MInt side's rule; this one is the computer owner's,
// and a command must be on both to run. Unknown keys are refused so that a typo cannot
// silently turn a rule off.
//
// {
//   "allowed_commands": ["/opt/fem-ccv/femccv", "/opt/Abaqus/Commands/abaqus"],
//   "result_files": { "patterns": ["*.txt", "out/**"], "max_bytes": 134217728 },
//   "workdirs": { "after_success": "remove", "keep_days": 30 }
// }
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';

export interface AgentRules {
  /** Absolute paths of the commands that may run, compared exactly with calc-info's `command`. */
  allowedCommands: string[];
  /** Result names that may leave this computer (globs: `*` and `?` within a segment, `**` across). @default ["**"] */
  resultPatterns: string[];
  /** Largest result file that may leave, bytes (base64 adds a third on the wire). @default 134217728 (128 MiB) */
  maxResultBytes: number;
  /** After a calc completed and its results were acknowledged: remove its working directory, or keep it. @default "keep" */
  afterSuccess: 'remove' | 'keep';
  /** Working directories of finished calcs older than this many days are removed at start and daily; null = never. @default null */
  keepDays: number | null;
  /** Where the rules came from, for the start banner. */
  source: string;
}

export const DEFAULT_MAX_RESULT_BYTES = 128 * 1024 * 1024;

export class RulesError extends Error {
  override readonly name = 'RulesError';
}

const TOP_KEYS = new Set(['allowed_commands', 'result_files', 'workdirs', 'comment']);

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function checkKeys(where: string, o: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new RulesError(`${where}: unknown key "${k}" (known: ${allowed.join(', ')})`);
  }
}

/** Compiles the rules file's JSON text (plus commands given with --allow-command). */
export function compileAgentRules(json: unknown, source: string, extraCommands: readonly string[] = []): AgentRules {
  if (!isObject(json)) throw new RulesError(`${source}: the rules file must hold one JSON object`);
  checkKeys(source, json, [...TOP_KEYS]);
  const cmds = json['allowed_commands'] ?? [];
  if (!Array.isArray(cmds) || !cmds.every((c) => typeof c === 'string')) throw new RulesError(`${source}: allowed_commands must be a list of absolute paths`);
  const allowedCommands = [...(cmds as string[]), ...extraCommands];
  for (const c of allowedCommands) {
    if (!isAbsolute(c) || c.includes('\0')) throw new RulesError(`${source}: allowed command ${JSON.stringify(c)} is not an absolute path`);
  }

  const rf = json['result_files'] ?? {};
  if (!isObject(rf)) throw new RulesError(`${source}: result_files must be an object {"patterns": [...], "max_bytes": N}`);
  checkKeys(`${source}: result_files`, rf, ['patterns', 'max_bytes']);
  const patterns = rf['patterns'] ?? ['**'];
  if (!Array.isArray(patterns) || !patterns.every((p) => typeof p === 'string' && p !== '')) {
    throw new RulesError(`${source}: result_files.patterns must be a list of non-empty glob patterns`);
  }
  const maxBytes = rf['max_bytes'] ?? DEFAULT_MAX_RESULT_BYTES;
  if (typeof maxBytes !== 'number' || !Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new RulesError(`${source}: result_files.max_bytes must be a whole number of bytes`);
  }

  const wd = json['workdirs'] ?? {};
  if (!isObject(wd)) throw new RulesError(`${source}: workdirs must be an object {"after_success": "remove"|"keep", "keep_days": N}`);
  checkKeys(`${source}: workdirs`, wd, ['after_success', 'keep_days']);
  const after = wd['after_success'] ?? 'keep';
  if (after !== 'remove' && after !== 'keep') throw new RulesError(`${source}: workdirs.after_success must be "remove" or "keep"`);
  const keepDays = wd['keep_days'] ?? null;
  if (keepDays !== null && (typeof keepDays !== 'number' || !(keepDays >= 0))) {
    throw new RulesError(`${source}: workdirs.keep_days must be a number of days (or null to keep forever)`);
  }
  return {
    allowedCommands: [...new Set(allowedCommands)],
    resultPatterns: patterns as string[],
    maxResultBytes: maxBytes,
    afterSuccess: after,
    keepDays: keepDays as number | null,
    source,
  };
}

/**
 * Reads a rules file. Refuses one that other users may write: whoever can edit it decides
 * what runs on this computer.
 */
export function readAgentRules(path: string, extraCommands: readonly string[] = []): AgentRules {
  let text: string;
  try {
    const st = statSync(path);
    if ((st.mode & 0o022) !== 0) {
      throw new RulesError(`${path} may be written by other users (mode ${(st.mode & 0o777).toString(8)}); run: chmod go-w ${path}`);
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof RulesError) throw err;
    throw new RulesError(`cannot read the rules file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RulesError(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return compileAgentRules(json, path, extraCommands);
}

/** Rules made only of --allow-command flags (no file). */
export function rulesFromFlags(commands: readonly string[]): AgentRules {
  return compileAgentRules({}, 'command line', commands);
}

/** A glob as a RegExp: `*` and `?` stay within one path segment, `**` crosses segments. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else {
      re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`, 's');
}

/** Why the rules keep a command from running here, or null when it may run. */
export function commandRefusal(rules: AgentRules, command: string): string | null {
  if (rules.allowedCommands.includes(command)) return null;
  return `the command ${JSON.stringify(command)} is not in this computer's list of allowed commands (${rules.source})`;
}

/** Why the rules keep a result file (by name) from leaving, or null. */
export function resultNameRefusal(rules: AgentRules, name: string): string | null {
  if (rules.resultPatterns.some((p) => globToRegExp(p).test(name))) return null;
  return `its name matches none of this computer's result_files.patterns`;
}
