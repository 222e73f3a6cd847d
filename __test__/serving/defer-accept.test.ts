/**
 * `--defer-accept` (TCP_DEFER_ACCEPT, on by default): the native reactor is handed a TCP
 * connection only once its first bytes are there. A silent connection opened before a
 * served one is therefore not accepted when the served one is; with the option off, or
 * on the pure reactor (Node cannot set the option), it is, as the listen queue is in order.
 */
import { describe, expect, it } from 'vitest';
import { useTestServers } from '../helpers/servers.js';
import { countingServers } from '../helpers/uwsgi-server.js';
import { RawClient, exchange, nginxVars, packet } from '../helpers/uwsgi.js';

const servers = useTestServers();
const countingServer = countingServers(servers);
const native = process.env.TSGI_NATIVE !== '0';

/** Opens a silent connection, then serves a request on another; returns the connections
 * accepted by the time the request was answered. */
async function acceptedAfterOneRequest(deferAccept: boolean): Promise<number> {
  const { address, server } = countingServer({ deferAccept });
  const silent = new RawClient(address);
  await silent.connected;
  const { data } = await exchange(address, packet(nginxVars('GET', '/served')));
  expect(data.toString('latin1')).toContain('ok /served');
  const accepted = server.acceptedConnections;
  silent.destroy();
  return accepted;
}

describe('--defer-accept', () => {
  it(`${native ? 'on (the default): the silent connection waits in the kernel' : 'on the pure reactor: has no effect, the silent connection is accepted'}`, async () => {
    expect(await acceptedAfterOneRequest(true)).toBe(native ? 1 : 2);
  });

  it('off: the silent connection is accepted before the served one', async () => {
    expect(await acceptedAfterOneRequest(false)).toBe(2);
  });
});
