// How an API token may appear on a screen or in a log: never whole. Shared by the relay
// (token listings) and every client (the agent's start banner).

/** A token as it may be shown: `ab12********…(64 chars)`. Short strings are fully masked. */
export function maskToken(token: string): string {
  return token.length <= 8 ? '*'.repeat(token.length) : `${token.slice(0, 4)}${'*'.repeat(8)}…(${token.length} chars)`;
}
