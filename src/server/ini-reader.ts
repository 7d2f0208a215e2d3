// A reader for the INI dialect that Python's configparser reads and writes (the deployed
// server's `mi_distributed_computing_assist.ini`). No npm INI parser handles configparser's
// indented continuation lines, so this is ours. What it follows of configparser's defaults:
// - `[section]` headers; `key = value` or `key: value`; keys are lower-cased; a [DEFAULT]
//   section's keys are seen by every section;
// - a line that starts with whitespace continues the previous value (joined with "\n");
//   blank lines inside a value are dropped;
// - whole-line comments start with `#` or `;`;
// - `%%` is a literal `%` and `%(key)s` is replaced (BasicInterpolation);
// - a section or key given twice is an error (strict mode).
// One difference, on purpose: ` ;` or ` #` after a value starts a comment, because the
// deployed sample puts one there (`loglevel = 3 ; 0 critical ...`).

export type IniData = Map<string, Map<string, string>>;

export class IniError extends Error {
  override readonly name = 'IniError';
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`);
  }
}

const SECTION = /^\[([^\]]+)\]\s*$/;
const OPTION = /^([^=:\s][^=:]*?)\s*[=:]\s*(.*)$/;

function stripInlineComment(v: string): string {
  const m = /\s[;#]/.exec(v);
  return (m ? v.slice(0, m.index) : v).trimEnd();
}

export function parseIni(text: string): IniData {
  const raw = new Map<string, Map<string, string>>();
  let section: Map<string, string> | null = null;
  let lastKey: string | null = null;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((line, i) => {
    const n = i + 1;
    if (/^\s*$/.test(line)) return; // blank: ends nothing, continuation may follow
    if (/^[#;]/.test(line)) return;
    if (/^\s/.test(line)) {
      const t = line.trim();
      if (/^[#;]/.test(t)) return;
      if (!section || lastKey === null) throw new IniError(n, 'indented line outside a value');
      const prev = section.get(lastKey) ?? '';
      const add = stripInlineComment(t);
      section.set(lastKey, prev === '' ? add : `${prev}\n${add}`);
      return;
    }
    const s = SECTION.exec(line);
    if (s) {
      const name = (s[1] ?? '').trim();
      if (raw.has(name)) throw new IniError(n, `section [${name}] appears twice`);
      section = new Map();
      raw.set(name, section);
      lastKey = null;
      return;
    }
    const o = OPTION.exec(line);
    if (!o) throw new IniError(n, `cannot read "${line.slice(0, 60)}": expected [section] or key = value`);
    if (!section) throw new IniError(n, 'key = value before any [section]');
    const key = (o[1] ?? '').trim().toLowerCase();
    if (section.has(key)) throw new IniError(n, `key "${key}" appears twice in its section`);
    section.set(key, stripInlineComment(o[2] ?? ''));
    lastKey = key;
  });

  const defaults = raw.get('DEFAULT') ?? new Map<string, string>();
  const out: IniData = new Map();
  for (const [name, sec] of raw) {
    if (name === 'DEFAULT') continue;
    const merged = new Map([...defaults, ...sec]);
    const resolved = new Map<string, string>();
    for (const [k, v] of merged) resolved.set(k, interpolate(v, merged, 0));
    out.set(name, resolved);
  }
  return out;
}

function interpolate(v: string, vars: Map<string, string>, depth: number): string {
  if (depth > 10) throw new IniError(0, `interpolation nested too deep in "${v.slice(0, 60)}"`);
  return v.replace(/%(%|\(([^)]+)\)s)/g, (_m, what: string, key: string | undefined) => {
    if (what === '%') return '%';
    const ref = vars.get((key ?? '').toLowerCase());
    if (ref === undefined) throw new IniError(0, `%(${key})s refers to a key that does not exist`);
    return interpolate(ref, vars, depth + 1);
  });
}

/** The whitespace-separated words of a value (site ids, commands, user names). */
export function words(v: string | undefined): string[] {
  return v === undefined ? [] : v.split(/\s+/).filter((w) => w !== '');
}
