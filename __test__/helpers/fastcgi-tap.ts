/**
 * A FastCGI tap: a TCP relay between a real peer (HAProxy, nginx) and a tsgi server that
 * forwards every byte unchanged, one upstream connection per downstream one, and records
 * the records going each way. Tests use it to see what the two said to each other:
 * the GET_VALUES exchange, which request ids were in flight at once on one connection,
 * ABORT_REQUESTs, END_REQUEST statuses.
 *
 *   const tap = await startTap(server.listen('127.0.0.1:0', { protocol: 'fastcgi' }));
 *   ... point the peer at tap.address ...
 *   tap.connections[0].records  // [{ dir: 'to-app', type: FCGI.GET_VALUES, ... }, ...]
 */
import net from 'node:net';
import { FCGI, parseRecords, type FcgiRecord } from './fastcgi.js';

export interface TapRecord extends FcgiRecord {
  /** `to-app`: sent by the peer; `from-app`: sent by tsgi. */
  dir: 'to-app' | 'from-app';
  /** When the tap relayed it (ms since epoch). */
  at: number;
}

export interface TapConnection {
  /** 0, 1, 2... in the order the peer connected. */
  index: number;
  /** Every record in the order the tap relayed it (both directions interleaved). */
  records: TapRecord[];
  /** Bytes that could not be parsed as records, if any (the tap relays them anyway). */
  garbage: string[];
  /** Whether both sides are closed. */
  closed: boolean;
  /** When each side ended or closed first (ms since epoch): `peer` = the proxy's side, `app` = tsgi's. */
  ended: { peer?: number; app?: number };
}

export interface Tap {
  /** HOST:PORT to point the peer at. */
  address: string;
  connections: TapConnection[];
  /** Per connection: the most request ids begun (BEGIN_REQUEST relayed) and not yet ended
   * (END_REQUEST relayed) at one time. */
  maxInFlight(): number[];
  /** Stops listening and destroys both sides of every connection. */
  close(): Promise<void>;
}

/** Name-value pairs (PARAMS, GET_VALUES, GET_VALUES_RESULT content), in order. */
export function decodeNameValues(content: Buffer): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  let at = 0;
  const length = (): number => {
    const first = content[at]!;
    if (first < 0x80) {
      at += 1;
      return first;
    }
    const value = content.readUInt32BE(at) & 0x7fffffff;
    at += 4;
    return value;
  };
  while (at < content.length) {
    const nameLength = length();
    const valueLength = length();
    pairs.push([content.toString('latin1', at, at + nameLength), content.toString('latin1', at + nameLength, at + nameLength + valueLength)]);
    at += nameLength + valueLength;
  }
  return pairs;
}

/** The GET_VALUES query of a connection and tsgi's answer (names → values), if they happened. */
export function getValuesExchange(connection: TapConnection): { asked?: string[]; answered?: Record<string, string> } {
  const query = connection.records.find((r) => r.dir === 'to-app' && r.type === FCGI.GET_VALUES);
  const result = connection.records.find((r) => r.dir === 'from-app' && r.type === FCGI.GET_VALUES_RESULT);
  return {
    asked: query && decodeNameValues(query.content).map(([name]) => name),
    answered: result && Object.fromEntries(decodeNameValues(result.content)),
  };
}

/** The END_REQUEST protocol statuses tsgi sent on a connection, by request id. */
export function endStatuses(connection: TapConnection): Array<{ id: number; appStatus: number; protocolStatus: number }> {
  return connection.records
    .filter((r) => r.dir === 'from-app' && r.type === FCGI.END_REQUEST)
    .map((r) => ({ id: r.id, appStatus: r.content.readUInt32BE(0), protocolStatus: r.content[4]! }));
}

const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(FCGI).map(([name, type]) => [type, name]));

/** One line per connection: its records in order, `>` to the app, `<` from it
 * (`>BEGIN_REQUEST#3 <END_REQUEST#3`), and the most requests it had in flight. */
export function describeTap(tap: Tap): string {
  const most = tap.maxInFlight();
  return tap.connections
    .map(
      (c, i) =>
        `connection ${c.index} (at most ${most[i]} in flight): ${c.records.map((r) => `${r.dir === 'to-app' ? '>' : '<'}${TYPE_NAMES[r.type] ?? r.type}#${r.id}`).join(' ')}${c.garbage.length ? ` garbage: ${c.garbage.join('; ')}` : ''}`,
    )
    .join('\n');
}

/**
 * What tsgi sent on a connection that breaks FastCGI's rules for a request, one line each:
 * a record for an id with no request open, STDOUT after the empty STDOUT, END_REQUEST
 * before the empty STDOUT (for a request that had STDOUT), two END_REQUESTs.
 */
export function protocolViolations(connection: TapConnection): string[] {
  const problems: string[] = [];
  const open = new Map<number, { stdoutEnded: boolean; stdout: boolean }>();
  connection.records.forEach((r, index) => {
    const where = `record ${index} (${TYPE_NAMES[r.type] ?? r.type}#${r.id})`;
    if (r.dir === 'to-app') {
      if (r.type === FCGI.BEGIN_REQUEST) open.set(r.id, { stdoutEnded: false, stdout: false });
      return;
    }
    if (r.id === 0) return;
    const request = open.get(r.id);
    if (!request) {
      problems.push(`${where}: no request ${r.id} is open`);
      return;
    }
    if (r.type === FCGI.STDOUT) {
      if (request.stdoutEnded) problems.push(`${where}: STDOUT after the empty STDOUT`);
      request.stdout = true;
      if (r.content.length === 0) request.stdoutEnded = true;
    } else if (r.type === FCGI.END_REQUEST) {
      if (request.stdout && !request.stdoutEnded) problems.push(`${where}: END_REQUEST before the empty STDOUT`);
      open.delete(r.id);
    }
  });
  return problems;
}

function connectTo(target: string): net.Socket {
  if (target.includes('/')) return net.connect(target);
  const colon = target.lastIndexOf(':');
  return net.connect(Number(target.slice(colon + 1)), target.slice(0, colon));
}

/** Starts a tap on 127.0.0.1 (a free port) in front of `target` (HOST:PORT or a Unix socket path). */
export async function startTap(target: string): Promise<Tap> {
  const connections: TapConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const connection: TapConnection = { index: connections.length, records: [], garbage: [], closed: false, ended: {} };
    connections.push(connection);
    const up = connectTo(target);
    for (const socket of [down, up]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        down.destroy();
        up.destroy();
      });
    }
    const recorder = (dir: TapRecord['dir']) => {
      let pending: Buffer = Buffer.alloc(0);
      let broken = false;
      return (data: Buffer) => {
        if (broken) return;
        pending = pending.length ? Buffer.concat([pending, data]) : data;
        try {
          const { records, rest } = parseRecords(pending);
          const at = Date.now();
          for (const r of records) connection.records.push({ ...r, content: Buffer.from(r.content), dir, at });
          pending = Buffer.from(rest);
        } catch (error) {
          broken = true;
          connection.garbage.push(`${dir}: ${(error as Error).message}`);
        }
      };
    };
    const toApp = recorder('to-app');
    const fromApp = recorder('from-app');
    // Record before relaying, so that a record is in the log before its answer can exist.
    down.on('data', (data: Buffer) => {
      toApp(data);
      up.write(data);
    });
    up.on('data', (data: Buffer) => {
      fromApp(data);
      down.write(data);
    });
    const mark = (side: 'peer' | 'app') => () => (connection.ended[side] ??= Date.now());
    down.on('end', mark('peer'));
    down.on('close', mark('peer'));
    up.on('end', mark('app'));
    up.on('close', mark('app'));
    down.on('end', () => up.end());
    up.on('end', () => down.end());
    let open = 2;
    const closed = () => {
      if (--open === 0) connection.closed = true;
    };
    down.on('close', () => {
      up.destroy();
      closed();
    });
    up.on('close', () => {
      down.destroy();
      closed();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    connections,
    maxInFlight() {
      return connections.map((connection) => {
        const active = new Set<number>();
        let most = 0;
        for (const r of connection.records) {
          if (r.dir === 'to-app' && r.type === FCGI.BEGIN_REQUEST) active.add(r.id);
          if (r.dir === 'from-app' && r.type === FCGI.END_REQUEST) active.delete(r.id);
          most = Math.max(most, active.size);
        }
        return most;
      });
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
