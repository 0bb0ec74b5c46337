/**
 * config/http-fetch.ts — the HTTP transport of the built-in OAuth client (config/oauth.ts):
 * `fetch`'s shape on node:http and node:https, handed to oauth4webapi as its customFetch.
 *
 * Why not the platform's fetch: the executable runs V8 without a JIT (--jitless, so that it
 * starts under small address-space limits: README "Where it runs"), which also takes away
 * WebAssembly, and Node's fetch (undici) parses HTTP with a WebAssembly build of llhttp. This
 * transport moves bytes only: every OAuth rule stays in the library. It trusts the same CA set
 * as delivery and `outbox check` (relay/tls.ts), never follows redirects (token endpoints do
 * not redirect), and reads at most 1 MiB of response.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { systemCas } from '../relay/tls.js';

const MAX_BODY = 1 << 20;

type Init = { method?: string; headers?: ConstructorParameters<typeof Headers>[0]; body?: unknown; signal?: AbortSignal | null; redirect?: string };

export function nodeFetch(extraCa: string[] = []): (url: string, init?: Init) => Promise<Response> {
  return (url, init = {}) =>
    new Promise<Response>((resolve, reject) => {
      const u = new URL(url);
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((v, k) => (headers[k] = v));
      const body =
        init.body === undefined || init.body === null
          ? undefined
          : typeof init.body === 'string'
            ? init.body
            : init.body instanceof URLSearchParams
              ? init.body.toString()
              : Buffer.from(init.body as Uint8Array);
      if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
      const opts = {
        method: init.method ?? 'GET',
        headers,
        ...(u.protocol === 'https:' ? { ca: [...systemCas(), ...extraCa], minVersion: 'TLSv1.2' as const } : {}),
      };
      const req = (u.protocol === 'https:' ? https : http).request(u, opts, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) req.destroy(new Error('response larger than 1 MiB'));
          else chunks.push(c);
        });
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) for (const x of Array.isArray(v) ? v : [v]) h.append(k, x);
          const status = res.statusCode ?? 500;
          resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: h }));
        });
        res.on('error', reject);
      });
      req.on('error', (e) => reject(Object.assign(new TypeError('fetch failed'), { cause: e })));
      const signal = init.signal;
      if (signal) {
        if (signal.aborted) req.destroy(signal.reason as Error);
        else signal.addEventListener('abort', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })), { once: true });
      }
      req.end(body);
    });
}
