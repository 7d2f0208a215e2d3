// The remote side's logic, sent inline as `sh -c '<script>' distcomp-ssh VERB ...` so a remote
// account needs nothing installed. The script is templates/ssh/distcomp-ssh-gate.sh, the same
// file an operator installs as the authorized_keys gate; a gate ignores the inline copy and
// runs its own, so the words we send are the gate's grammar either way.
import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** The gate script with its full-line comments removed (it travels on every command). */
export function remoteAgentScript(): string {
  if (cached === undefined) {
    // src/ssh/ and dist/ssh/ are both two levels under the package root.
    const text = readFileSync(new URL('../../templates/ssh/distcomp-ssh-gate.sh', import.meta.url), 'utf8');
    cached = text
      .split('\n')
      .filter((line) => !/^\s*#/.test(line) && line.trim() !== '')
      .join('\n');
  }
  return cached;
}

export type AgentVerb = 'mkdir' | 'fetch' | 'status' | 'rm';

/** The words of one remote step in the gate grammar. */
export function agentWords(verb: AgentVerb, base: string, uuid: string, ...rest: string[]): string[] {
  return ['sh', '-c', remoteAgentScript(), 'distcomp-ssh', verb, base, uuid, ...rest];
}
