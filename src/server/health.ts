/**
 * `--health-path`: a path every listener answers itself, whatever the protocol, without
 * calling the app (PHP-FPM's `ping.path`): `200 ok` while the worker accepts, `503
 * draining` from the first moment of a drain (a graceful stop, a reload or recycle of
 * this worker, `--shutdown-delay`), so a load balancer or a readiness probe takes the
 * worker out before it stops accepting. Matched on the request target's path
 * (`REQUEST_URI`, else `PATH_INFO`), any query ignored.
 */
import type { App } from '../app/contract.js';
import { KeyId } from '../codec/keys.js';
import type { RequestRecord } from '../native/request.js';
import { pathOfUri } from './environ.js';

const HEADERS: Array<[string, string]> = [
  ['Content-Type', 'text/plain; charset=utf-8'],
  ['Cache-Control', 'no-store'],
];

/** The answers, by whether the worker is draining. */
const answer = (draining: boolean): App => {
  const [status, body] = draining ? ['503 Service Unavailable', 'draining\n'] : ['200 OK', 'ok\n'];
  return (_, startResponse) => {
    startResponse(status, [...HEADERS, ['Content-Length', String(body.length)]]);
    return [body];
  };
};
const SERVING = answer(false);
const DRAINING = answer(true);

/** The built-in answer for `record` if it asks for `path`, else undefined. */
export function healthAnswer(path: string, record: RequestRecord, draining: boolean): App | undefined {
  const uri = record.get(KeyId.REQUEST_URI);
  const asked = uri !== undefined ? pathOfUri(uri) : record.get(KeyId.PATH_INFO);
  if (asked !== path) return undefined;
  return draining ? DRAINING : SERVING;
}
