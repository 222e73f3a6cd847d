/**
 * --tunnel-timeout: a tunnel (a WebSocket after its 101) where nothing moves either way for
 * that long is closed, with a log line naming the option; traffic either way keeps it
 * open; 0 keeps it open for good. Over HTTP with a real `ws` client, and over uwsgi with
 * the packets nginx sends; both reactors.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { useTestServers } from '../helpers/servers.js';
import { RawClient, nginxVars, packet, waitFor } from '../helpers/uwsgi.js';
import { websocketEchoApp } from '../helpers/websocket.js';

const servers = useTestServers();
const { serve } = servers;
const HTTP = { protocol: 'http' as const };

function open(address: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const client = new WebSocket(`ws://${address}/`);
    client.once('open', () => resolve(client));
    client.once('error', reject);
  });
}

describe('--tunnel-timeout', () => {
  it('an idle WebSocket is closed at tunnel-timeout, logged with the option', async () => {
    const address = serve(websocketEchoApp(), { tunnelTimeout: 0.3 }, HTTP);
    const client = await open(address);
    const openedAt = Date.now();
    const code = await new Promise<number>((resolve) => client.once('close', resolve));
    // No close frame: the connection just ends.
    expect(code).toBe(1006);
    expect(Date.now() - openedAt).toBeGreaterThanOrEqual(300);
    await waitFor(() => servers.logs.find(/^http: tunnel idle for tunnel-timeout 0\.3 s; closed \(raise --tunnel-timeout\)$/), { what: 'the log line' });
  });

  it('messages either way keep a WebSocket open past tunnel-timeout', async () => {
    const address = serve(websocketEchoApp(), { tunnelTimeout: 0.3 }, HTTP);
    const client = await open(address);
    let closed = false;
    client.once('close', () => (closed = true));
    // Ten round trips 100 ms apart: a second, three times the timeout.
    for (let i = 0; i < 10; i++) {
      const echoed = new Promise<string>((resolve) => client.once('message', (data) => resolve(String(data))));
      client.send(`tick ${i}`);
      expect(await echoed).toBe(`tick ${i}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(closed).toBe(false);
    client.close(1000);
  });

  it('0: an idle WebSocket stays open', async () => {
    const address = serve(websocketEchoApp(), { tunnelTimeout: 0, socketTimeout: 0.2 }, HTTP);
    const client = await open(address);
    let closed = false;
    client.once('close', () => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(closed).toBe(false);
    const echoed = new Promise<string>((resolve) => client.once('message', (data) => resolve(String(data))));
    client.send('still here');
    expect(await echoed).toBe('still here');
    client.close(1000);
  });

  it('over uwsgi too: an idle tunnel is closed at tunnel-timeout', async () => {
    const address = serve(websocketEchoApp(), { tunnelTimeout: 0.3 });
    const client = new RawClient(address);
    const vars = nginxVars('GET', '/ws', { HTTP_CONNECTION: 'Upgrade', HTTP_UPGRADE: 'websocket', HTTP_SEC_WEBSOCKET_KEY: 'dGhlIHNhbXBsZSBub25jZQ==' });
    void client.write(packet(vars));
    const { reset } = await client.whenClosed;
    expect(reset).toBe(false);
    expect(client.data.toString('latin1')).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    await waitFor(() => servers.logs.find(/^uwsgi: tunnel idle for tunnel-timeout 0\.3 s; closed \(raise --tunnel-timeout\)$/), { what: 'the log line' });
  });
});
