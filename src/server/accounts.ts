// Users, passwords and API tokens: what `distcomp user` / `distcomp token` and the login
// endpoint do. Passwords are stored with scrypt (N=2^17, r=8, p=1: ~0.3 s per check, by
// design); tokens are random and stored as their sha256 only.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Store, TokenRow, User } from '../store/store.ts';
import { newToken, tokenHint, tokenSha256 } from './token-auth.ts';

const SCRYPT = { N: 2 ** 17, r: 8, p: 1, maxmem: 256 * 1024 * 1024 } as const;
const KEYLEN = 32;

function scrypt(password: string, salt: Buffer, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, KEYLEN, o, (err, key) => (err ? reject(err) : resolve(key))));
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const key = await scrypt(password, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p), maxmem: SCRYPT.maxmem });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

export class AccountError extends Error {
  override readonly name = 'AccountError';
}

const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export class Accounts {
  constructor(private readonly store: Store) {}

  async addUser(name: string, password: string | null): Promise<User> {
    if (!USER_NAME.test(name)) throw new AccountError(`invalid user name "${name}": use 1-64 letters, digits, . _ @ -, starting with a letter or digit`);
    if (this.store.findUser(name)) throw new AccountError(`user "${name}" already exists`);
    return this.store.addUser(name, password === null ? null : await hashPassword(password));
  }

  async setPassword(name: string, password: string): Promise<void> {
    const u = this.requireUser(name);
    this.store.setPassword(u.id, await hashPassword(password));
  }

  requireUser(name: string): User {
    const u = this.store.findUser(name);
    if (!u) throw new AccountError(`no such user "${name}" (add it with: distcomp user add ${name} --data-dir DIR)`);
    return u;
  }

  /** Creates a token; the returned string is the only time it exists outside a client. */
  createToken(userName: string, label: string | null): { token: string; row: TokenRow } {
    const u = this.requireUser(userName);
    const token = newToken();
    const row = this.store.addToken(u.id, tokenSha256(token), tokenHint(token), label);
    return { token, row };
  }

  async login(userName: string, password: string, label: string): Promise<string | null> {
    const found = this.store.userPasswordHash(userName);
    // check a dummy hash for unknown users, so timing does not tell who exists
    const hash = found?.hash ?? 'scrypt$131072$8$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';
    const good = await verifyPassword(password, hash);
    if (!found || !found.hash || !good) return null;
    return this.createToken(userName, label).token;
  }
}
