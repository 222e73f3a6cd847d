/** --worker-sockets: each worker's own address, derived from a socket's, and how the stats show it. */
import { describe, expect, it } from 'vitest';
import { ErrorCodes, TsgiError } from '../../src/errors.js';
import { listenersOf, workerAddress, workerListenersOf } from '../../src/net/sockets.js';
import { prometheusText, statsJson, type StatsSnapshot } from '../../src/observe/stats.js';

describe("a worker's own address", () => {
  it('TCP: the port plus the worker id, the host as written', () => {
    expect(workerAddress('127.0.0.1:8000', 1)).toBe('127.0.0.1:8001');
    expect(workerAddress('127.0.0.1:8000', 12)).toBe('127.0.0.1:8012');
    expect(workerAddress(':3031', 2)).toBe(':3033');
    expect(workerAddress('localhost:3031', 1)).toBe('localhost:3032');
    expect(workerAddress('0.0.0.0:65534', 1)).toBe('0.0.0.0:65535');
  });

  it('IPv6: the brackets kept', () => {
    expect(workerAddress('[::1]:8000', 1)).toBe('[::1]:8001');
    expect(workerAddress('[::]:9000', 3)).toBe('[::]:9003');
    expect(workerAddress('[fe80::1%lo]:80', 2)).toBe('[fe80::1%lo]:82');
  });

  it('a Unix socket: the path with .N, with or without unix:', () => {
    expect(workerAddress('/run/app/app.sock', 1)).toBe('/run/app/app.sock.1');
    expect(workerAddress('./app.sock', 2)).toBe('./app.sock.2');
    expect(workerAddress('unix:/run/app.sock', 3)).toBe('unix:/run/app.sock.3');
  });

  it('port 0 stays 0: each worker binds a free port of its own', () => {
    expect(workerAddress('127.0.0.1:0', 1)).toBe('127.0.0.1:0');
    expect(workerAddress('[::1]:0', 2)).toBe('[::1]:0');
    expect(workerAddress(':0', 2)).toBe(':0');
  });

  it('a name that is no address comes back as it is, for the shared bind to report', () => {
    expect(workerAddress('nonsense', 1)).toBe('nonsense');
    expect(workerAddress('host:port', 1)).toBe('host:port');
  });
});

describe("every worker's own listeners", () => {
  const config = { socket: ['/run/app.sock'], 'fastcgi-socket': [], 'http-socket': ['[::1]:8000'] };

  it('one per socket and worker place, socket by socket, keeping the protocol and option', () => {
    expect(workerListenersOf(listenersOf(config, '127.0.0.1:3031'), 2)).toEqual([
      { protocol: 'uwsgi', name: '/run/app.sock.1', option: '--socket', worker: 1 },
      { protocol: 'uwsgi', name: '/run/app.sock.2', option: '--socket', worker: 2 },
      { protocol: 'http', name: '[::1]:8001', option: '--http-socket', worker: 1 },
      { protocol: 'http', name: '[::1]:8002', option: '--http-socket', worker: 2 },
    ]);
    // The default socket, when none is named, gets them too.
    expect(workerListenersOf(listenersOf({ socket: [], 'fastcgi-socket': [], 'http-socket': [] }, '127.0.0.1:3031'), 1)).toEqual([
      { protocol: 'uwsgi', name: '127.0.0.1:3032', option: '--socket', worker: 1 },
    ]);
  });

  it('a port with no room for the last place is an option mistake', () => {
    const listeners = listenersOf({ socket: [], 'fastcgi-socket': ['127.0.0.1:65533'], 'http-socket': [] }, '');
    expect(workerListenersOf(listeners, 2).map((l) => l.name)).toEqual(['127.0.0.1:65534', '127.0.0.1:65535']);
    let error: unknown;
    try {
      workerListenersOf(listeners, 3);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(TsgiError);
    expect((error as TsgiError).code).toBe(ErrorCodes.INVALID_OPTION);
    expect((error as TsgiError).message).toBe(
      "--worker-sockets: --fastcgi-socket 127.0.0.1:65533: worker 3's port would be 65536, past 65535; with --processes 3, name a port up to 65532",
    );
  });
});

describe("a worker's own socket in the stats", () => {
  const snapshot: StatsSnapshot = {
    version: 'tsgi 0.1.0',
    pid: 100,
    uid: 0,
    gid: 0,
    cwd: '/',
    load: 0,
    listen_queue: 1,
    crash_loop: false,
    draining: false,
    sockets: [
      { name: '127.0.0.1:8000', proto: 'http', queue: 0, max_queue: 128 },
      { name: '127.0.0.1:8001', proto: 'http', queue: 1, max_queue: 128, worker: 1 },
    ],
    workers: [],
  };

  it('the JSON says whose it is; a shared socket has no worker', () => {
    const { sockets } = JSON.parse(statsJson(snapshot));
    expect(sockets[0]).not.toHaveProperty('worker');
    expect(sockets[1]).toEqual({ name: '127.0.0.1:8001', proto: 'http', queue: 1, max_queue: 128, worker: 1, shared: 0, can_offload: 0 });
  });

  it('/metrics labels its listen queue with the worker', () => {
    const text = prometheusText(snapshot);
    expect(text).toContain('tsgi_listen_queue{socket="127.0.0.1:8000",proto="http"} 0\n');
    expect(text).toContain('tsgi_listen_queue{socket="127.0.0.1:8001",proto="http",worker="1"} 1\n');
    expect(text).toContain('tsgi_listen_queue_max{socket="127.0.0.1:8001",proto="http",worker="1"} 128\n');
  });
});
