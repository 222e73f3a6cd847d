/**
 * The codecs the micro-benchmarks race, per protocol. Each contender is
 * { key, label, prepare(packets) → run }: `run()` parses every packet once and answers how
 * many vars (or header fields) it found, which the suite checks before timing (a codec that
 * misreads the input is a failure, not a fast result) and which keeps the work from being
 * optimised away.
 *
 * How each meets the bytes is how its server would on a kept-alive connection: one call
 * per request, each request in a buffer of its own as a read delivers it. The native codec
 * is the exception, and the reason it is measured at all: in the server the Rust reactor
 * reads and parses without crossing into JavaScript per request, so here one parseBatch()
 * call parses every packet laid end to end, and the crossing is paid once per batch.
 * Node's llhttp pays its crossing per call, as node:http does on every read.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBenchBinding } from './binding.mjs';

/**
 * A contender, ready: `prepare(packets)` gives the run that parses them all once and answers
 * how many vars (or fields) it found.
 * @typedef {{ label: string, prepare: (packets: Buffer[]) => () => number }} Ready
 */

/** @typedef {Ready | { skip: string }} Made */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const requireFromRoot = createRequire(path.join(root, 'package.json'));
/**
 * A module of the build (dist/); its type is its source's, given where it is used.
 * @param {string} file
 * @returns {Promise<unknown>}
 */
const dist = (file) => import(path.join(root, 'dist', file));

/**
 * The version of an installed package.
 * @param {string} name
 * @returns {string}
 */
export const packageVersion = (name) => /** @type {{ version: string }} */ (requireFromRoot(`${name}/package.json`)).version;

/**
 * The limits the pure reactor parses with when given no options: the option table's defaults.
 * @returns {Promise<import('../../src/pure/config.js').ReactorConfig>}
 */
async function pureLimits() {
  const { PureReactor } = /** @type {typeof import('../../src/pure/reactor.js')} */ (await dist('pure/reactor.js'));
  const { REACTOR_DEFAULTS } = /** @type {typeof import('../../src/server/reactor-options.js')} */ (await dist('server/reactor-options.js'));
  return new PureReactor(() => {}, new Uint8Array(0), new Uint32Array(0), REACTOR_DEFAULTS).config;
}

/**
 * tsgi's native codec (crates/tsgi-wire) through parseBatch, which only the benchmark
 * build of the binding has (bench/codec/binding.mjs).
 * @param {import('../../src/native/binding.js').WireProtocol} protocol
 * @returns {Promise<Made>}
 */
async function native(protocol) {
  const loaded = loadBenchBinding();
  if (!loaded.binding) return { skip: loaded.why };
  const binding = loaded.binding;
  return {
    label: 'tsgi native (Rust, tsgi-wire), one parseBatch call per batch',
    prepare(packets) {
      const batch = Buffer.concat(packets);
      return () => binding.parseBatch(protocol, batch, packets.length).vars;
    },
  };
}

/**
 * tsgi's pure-TypeScript codec (src/codec/), called as src/pure/ calls it.
 * @param {string} protocol
 * @returns {Promise<Made>}
 */
async function pureTs(protocol) {
  const label = 'tsgi pure-TypeScript (src/codec)';
  const limits = await pureLimits();
  if (protocol === 'uwsgi') {
    const { parseRequest } = /** @type {typeof import('../../src/codec/uwsgi.js')} */ (await dist('codec/uwsgi.js'));
    const { VarList } = /** @type {typeof import('../../src/codec/wire.js')} */ (await dist('codec/wire.js'));
    const vars = new VarList();
    return { label, prepare: (packets) => () => packets.reduce((n, p) => (parseRequest(p, p.length, limits.uwsgi, vars), n + vars.count), 0) };
  }
  if (protocol === 'http') {
    const { HeadVars, parseHead } = /** @type {typeof import('../../src/codec/http/head.js')} */ (await dist('codec/http/head.js'));
    const vars = new HeadVars();
    return { label, prepare: (packets) => () => packets.reduce((n, p) => (parseHead(p, p.length, limits.http, vars), n + vars.vars.count), 0) };
  }
  const { ParamsDecoder, RecordType, parseBeginRequest, parseRecord } = /** @type {typeof import('../../src/codec/fastcgi.js')} */ (
    await dist('codec/fastcgi.js')
  );
  const { WireError } = /** @type {typeof import('../../src/codec/wire.js')} */ (await dist('codec/wire.js'));
  const params = new ParamsDecoder(limits.fastcgi);
  /**
   * The records of one request, as src/pure/fastcgi.ts walks a read.
   * @param {Buffer} data
   */
  const parse = (data) => {
    for (let pos = 0; pos < data.length;) {
      const record = parseRecord(data, pos, data.length);
      if (record === null || record instanceof WireError) throw new Error(`not one whole FastCGI record at ${pos}: ${record?.code ?? 'incomplete'}`);
      const content = data.subarray(pos + 8, pos + 8 + record.contentLength);
      if (record.type === RecordType.BEGIN_REQUEST) {
        parseBeginRequest(content);
        params.reset();
      } else if (record.type === RecordType.PARAMS) params.feed(content);
      pos += record.total;
    }
    return params.vars.count;
  };
  return { label, prepare: (packets) => () => packets.reduce((n, p) => n + parse(p), 0) };
}

/**
 * A stand-in for the socket a FastCGI library reads: 'data' events, writes dropped. Once
 * node-fastcgi's server has taken it ('connection'), it has that library's endRequest(id).
 * @returns {EventEmitter & { endRequest(id: number): void }}
 */
function fakeSocket() {
  const socket = new EventEmitter();
  Object.assign(socket, { writable: false, destroyed: false, write: () => true, end() {}, setTimeout() {}, setNoDelay() {} });
  return /** @type {EventEmitter & { endRequest(id: number): void }} */ (socket);
}

/**
 * fastcgi-stream: the record parser node-fastcgi is built on; records → [name, value] strings.
 * @returns {Ready}
 */
function fastcgiStream() {
  const { FastCGIStream, records } = /** @type {typeof import('fastcgi-stream')} */ (requireFromRoot('fastcgi-stream'));
  return {
    label: `fastcgi-stream ${packageVersion('fastcgi-stream')} (records, params as strings)`,
    prepare(packets) {
      const socket = fakeSocket();
      let found = 0;
      new FastCGIStream(socket).on('record', (/** @type {number} */ id, /** @type {{ TYPE: number, params: unknown[] }} */ record) => {
        if (record.TYPE === records.Params.TYPE) found += record.params.length;
      });
      return () => {
        found = 0;
        for (const p of packets) socket.emit('data', p);
        return found;
      };
    },
  };
}

/**
 * node-fastcgi: its own connection handler (lib/server.js) on a stand-in socket, up to the
 * (req, res) it hands the app: fastcgi-stream's records, then its Request, params and
 * http.IncomingMessage headers. That is how node-fastcgi parses a request: it has no parser
 * of its own below fastcgi-stream. The request is then ended as its server ends one (the
 * END_REQUEST write goes nowhere), so the request id is free for the next.
 * @returns {Ready}
 */
function nodeFastcgi() {
  const fcgi = /** @type {typeof import('node-fastcgi')} */ (requireFromRoot('node-fastcgi'));
  return {
    label: `node-fastcgi ${packageVersion('node-fastcgi')} (fastcgi-stream, then its req.headers)`,
    prepare(packets) {
      let found = 0;
      const server = fcgi.createServer((req) => {
        found += Object.keys(req.headers).length;
      });
      const socket = fakeSocket();
      server.emit('connection', socket);
      return () => {
        found = 0;
        for (const p of packets) {
          socket.emit('data', p);
          socket.endRequest(1);
        }
        return found;
      };
    },
  };
}

/**
 * http-parser-js: the pure-JS HTTP parser (node:http's drop-in, used by http-proxy setups and others).
 * @returns {Ready}
 */
function httpParserJs() {
  const { HTTPParser } = /** @type {typeof import('http-parser-js')} */ (requireFromRoot('http-parser-js'));
  return {
    label: `http-parser-js ${packageVersion('http-parser-js')}`,
    prepare(packets) {
      const parser = new HTTPParser(HTTPParser.REQUEST);
      let found = 0;
      parser[HTTPParser.kOnHeadersComplete] = (info) => {
        found += info.headers.length / 2;
      };
      parser[HTTPParser.kOnMessageComplete] = () => {};
      return () => {
        found = 0;
        for (const p of packets) parser.execute(p);
        return found;
      };
    },
  };
}

/**
 * Node's llhttp, as node:http drives it: process.binding('http_parser'), one execute() per read.
 * @returns {Ready}
 */
function llhttp() {
  // Deprecated and untyped in @types/node: scripts/types/node-http-parser.d.ts describes it.
  const binding = /** @type {import('../../scripts/types/node-http-parser.js').ProcessWithBinding} */ (/** @type {unknown} */ (process));
  const { HTTPParser } = binding.binding('http_parser');
  return {
    label: `llhttp ${process.versions.llhttp} (Node ${process.version}'s, through process.binding('http_parser'))`,
    prepare(packets) {
      const parser = new HTTPParser();
      parser.initialize(HTTPParser.REQUEST, {}, 0, 0);
      let found = 0;
      // Past 32 fields llhttp hands them over in kOnHeaders calls, the rest with the head.
      parser[HTTPParser.kOnHeaders] = (/** @type {string[]} */ headers) => {
        found += headers.length / 2;
      };
      parser[HTTPParser.kOnHeadersComplete] = (/** @type {number} */ major, /** @type {number} */ minor, /** @type {string[] | undefined} */ headers) => {
        found += (headers?.length ?? 0) / 2;
      };
      parser[HTTPParser.kOnMessageComplete] = () => {};
      return () => {
        found = 0;
        for (const p of packets) parser.execute(p);
        return found;
      };
    },
  };
}

/**
 * What a contender finds per request: vars for tsgi's codecs, params or header fields for the others.
 * @type {Record<string, string>}
 */
const UNIT = {
  native: 'vars',
  'pure-ts': 'vars',
  'fastcgi-stream': 'params',
  'node-fastcgi': 'headers',
  'http-parser-js': 'header fields',
  llhttp: 'header fields',
};

/** @type {Record<import('../../src/native/binding.js').WireProtocol, Record<string, (protocol: import('../../src/native/binding.js').WireProtocol) => Made | Promise<Made>>>} */
const BY_PROTOCOL = {
  uwsgi: { native, 'pure-ts': pureTs },
  fastcgi: { native, 'pure-ts': pureTs, 'fastcgi-stream': fastcgiStream, 'node-fastcgi': nodeFastcgi },
  http: { native, 'pure-ts': pureTs, 'http-parser-js': httpParserJs, llhttp },
};

/** The contenders of `protocol`, resolved: [{ key, unit, label, prepare } | { key, skip }]. */
/**
 * @param {string} protocol
 * @returns {Promise<Array<{ key: string, unit?: string } & Made>>}
 */
export async function contendersOf(protocol) {
  if (protocol !== 'uwsgi' && protocol !== 'fastcgi' && protocol !== 'http') throw new Error(`no codec contenders for ${protocol}`);
  const out = [];
  for (const [key, make] of Object.entries(BY_PROTOCOL[protocol])) {
    try {
      out.push({ key, unit: UNIT[key], ...(await make(protocol)) });
    } catch (error) {
      out.push({ key, skip: error instanceof Error ? error.message : String(error) });
    }
  }
  return out;
}
