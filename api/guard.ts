import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { isIP } from 'node:net';
import { HostNotAllowed, OriginNotAllowed, type Runtime } from '../controller/index.js';
import { DASHBOARD_OPEN_ROUTES } from './routes/dashboard.js';

/** Who may reach the control routes from where: set from GLAMBDAR_HOST, _ALLOWED_HOSTS and _CORS_ORIGINS. */
export interface GuardOptions {
  /** The address the runtime listens on (GLAMBDAR_HOST). */
  listenHost: string;
  /** More host names the control routes answer to (GLAMBDAR_ALLOWED_HOSTS), lower-case. */
  allowedHosts: readonly string[];
  /** Origins whose browser pages may call the control routes (GLAMBDAR_CORS_ORIGINS). */
  corsOrigins: readonly string[];
}

/**
 * The routes open without the admin token: the health check, and the dashboard's page shell
 * and static assets (no data: the page asks for the token and sends it to the data routes).
 */
export const OPEN_ROUTES: ReadonlySet<string> = new Set(['GET /healthz', ...DASHBOARD_OPEN_ROUTES]);

/** The host name of a Host header, without its port and brackets, lower-case. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

/**
 * The control plane's gate, ahead of every route, so a route added later is guarded too:
 *
 * 1. `Host` must be an address (no name can be rebound to one), `localhost`, the listening
 *    host, or a name of GLAMBDAR_ALLOWED_HOSTS: else 421 HOST_NOT_ALLOWED. A page on a name
 *    the attacker rebinds to 127.0.0.1 sends its own name.
 * 2. A browser request from a page of another site (`Origin` not this host, nor listed in
 *    GLAMBDAR_CORS_ORIGINS; or `Sec-Fetch-Site: cross-site`) gets 403 ORIGIN_NOT_ALLOWED: a page
 *    can POST a multipart form anywhere without a preflight.
 * 3. CORS headers only for listed origins, whose preflights are answered here.
 * 4. The admin token on everything but {@link OPEN_ROUTES} (the Runtime checks it: 401 UNAUTHORIZED).
 *
 * Nothing runs before this: errors go to the error middleware as any route's do.
 */
export function controlGuard(runtime: Runtime, options: GuardOptions): RequestHandler {
  const hosts = new Set(['localhost', hostName(options.listenHost), ...options.allowedHosts]);
  const cors = new Set(options.corsOrigins);
  const hostAllowed = (name: string) => hosts.has(name) || isIP(name) !== 0;
  return (req: Request, res: Response, next: NextFunction) => {
    const host = req.headers.host;
    // A client without Host is no browser, and only browsers are led astray by a rebinding name.
    if (host !== undefined && !hostAllowed(hostName(host))) {
      throw new HostNotAllowed(`this runtime does not answer to the host name in the Host header; add it to GLAMBDAR_ALLOWED_HOSTS if it is yours`);
    }
    const origin = req.headers.origin;
    const listed = origin !== undefined && cors.has(origin);
    const route = `${req.method} ${req.path}`;
    // A link from another site may open the dashboard's page (it carries no data and cannot be framed).
    const navigation = OPEN_ROUTES.has(route) && req.method === 'GET' && req.headers['sec-fetch-mode'] === 'navigate';
    if (!listed && !navigation && ((origin !== undefined && !sameOrigin(origin, host)) || req.headers['sec-fetch-site'] === 'cross-site')) {
      throw new OriginNotAllowed('a page of another site may not call the control routes; list its origin in GLAMBDAR_CORS_ORIGINS to allow it');
    }
    if (listed) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('vary', 'Origin');
      if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
        res.setHeader('access-control-allow-methods', 'GET, POST, PUT, DELETE');
        res.setHeader('access-control-allow-headers', 'authorization, content-type');
        res.setHeader('access-control-max-age', '600');
        res.status(204).end();
        return;
      }
    }
    if (!OPEN_ROUTES.has(route)) runtime.authorizeControl(req.headers.authorization);
    next();
  };
}

/** True when `origin` is the page origin of the host the request was sent to. */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === host.trim().toLowerCase();
  } catch {
    return false; // "null" (a sandboxed page, a file) and anything unparsable
  }
}
