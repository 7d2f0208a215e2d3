// Our additive endpoints under /mi-distcomp-api/x/: what the server supports, login
// (a password for a token, for agents started with `login` instead of a token), and the
// heartbeat of lease-aware agents.
import type { FastifyInstance } from 'fastify';
import { Errors } from '../../protocol/errors.ts';
import { ok } from '../../protocol/envelope.ts';
import { FEATURES } from '../../protocol/features.ts';
import type { Relay } from '../relay.ts';
import { caller } from './route-helpers.ts';

export interface LoginService {
  /** A new token for the user, or null when the login id or password is wrong. */
  login(loginId: string, password: string, label: string): Promise<string | null>;
}

export function extensionRoutes(app: FastifyInstance, login: LoginService, relay: Relay): void {
  app.get('/mi-distcomp-api/x/features', async () => ok('features', { features: FEATURES, max_wait_s: 60 }));

  // {accept_id, site_id, attempt} → the lease renewed, with the server's timing; refused with
  // code 400 + `cancelled: true` (cancelled) or 409 (the lease is not the caller's any more)
  app.post('/mi-distcomp-api/x/heartbeat', async (req) => {
    const { calc, terms, liveness } = relay.heartbeat(caller(req), req.body);
    return ok('ok', { ...terms, calc_progress: calc.progress, calc_status: calc.status, liveness });
  });

  app.get('/mi-distcomp-api/x/whoami', async (req) => ok('ok', { user: caller(req).name }));

  app.post('/mi-distcomp-api/x/login', async (req) => {
    const b = req.body as Record<string, unknown> | null;
    const id = b?.['login'];
    const pw = b?.['password'];
    if (typeof id !== 'string' || typeof pw !== 'string' || id === '' || pw === '') throw Errors.badBody('login and password must be non-empty strings');
    const label = typeof b?.['label'] === 'string' ? (b['label'] as string).slice(0, 100) : `login from ${req.ip}`;
    const token = await login.login(id, pw, label);
    if (token === null) throw Errors.loginFailed();
    return ok('ok', { token });
  });
}
