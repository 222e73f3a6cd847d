/**
 * Whether a uwsgi (or FastCGI) request is an upgrade, in the TypeScript codecs: the twin of
 * crates/tsgi-wire/tests/uwsgi_upgrade.rs. The HTTP codec's rule (CONNECT, or HTTP/1.1 with
 * a Connection token `upgrade` and an Upgrade header) read from the vars nginx sends; held
 * to parseHead on the same heads, and to the FastCGI params decoder, which shares the walk.
 */
import { describe, expect, it } from 'vitest';
import { ParamsDecoder } from '../../src/codec/fastcgi.js';
import { HeadVars, parseHead, type Head } from '../../src/codec/http/head.js';
import { parseRequest, type UwsgiHead } from '../../src/codec/uwsgi.js';
import { VarList, WireError } from '../../src/codec/wire.js';
import { nameValues } from '../helpers/fastcgi.js';
import { packet, type Vars } from '../helpers/uwsgi.js';

const limits = { maxVarsBlock: 0xffff, maxVars: 1000, maxBody: 0 };

/** The head of a complete packet, checking that every prefix of it is "more bytes". */
function head(vars: Vars, body = ''): UwsgiHead {
  const buf = packet(vars, body);
  const out = new VarList();
  const whole = parseRequest(buf, buf.length, limits, out);
  if (whole === null || whole instanceof WireError) throw new Error(`not a head: ${JSON.stringify(whole)}`);
  for (let i = 0; i < whole.consumed; i++) expect(parseRequest(buf, i, limits, out), `${i} bytes`).toBeNull();
  return whole;
}

const upgrade = (vars: Vars): boolean => head(vars).upgrade;

/** The vars nginx 1.22 sends over uwsgi_pass for a WebSocket handshake, in its order (as
 * captured from the `ws` client through it). */
const handshake: Array<[string, string]> = [
  ['QUERY_STRING', ''],
  ['REQUEST_METHOD', 'GET'],
  ['CONTENT_TYPE', ''],
  ['CONTENT_LENGTH', ''],
  ['REQUEST_URI', '/ws/chat'],
  ['PATH_INFO', '/ws/chat'],
  ['DOCUMENT_ROOT', '/usr/share/nginx/html'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'],
  ['REQUEST_SCHEME', 'http'],
  ['REMOTE_ADDR', '127.0.0.1'],
  ['REMOTE_PORT', '51234'],
  ['SERVER_PORT', '8080'],
  ['SERVER_NAME', 'localhost'],
  ['HTTP_HOST', '127.0.0.1:8080'],
  ['HTTP_SEC_WEBSOCKET_VERSION', '13'],
  ['HTTP_SEC_WEBSOCKET_KEY', 'dGhlIHNhbXBsZSBub25jZQ=='],
  ['HTTP_CONNECTION', 'Upgrade'],
  ['HTTP_UPGRADE', 'websocket'],
  ['HTTP_SEC_WEBSOCKET_EXTENSIONS', 'permessage-deflate; client_max_window_bits'],
];

const get = (...more: Array<[string, string]>): Array<[string, string]> => [['REQUEST_METHOD', 'GET'], ...more];

describe('the uwsgi codec says whether a request is an upgrade', () => {
  it("nginx's WebSocket handshake is one; bytes after the head are not the codec's", () => {
    expect(head(handshake)).toMatchObject({ contentLength: 0, upgrade: true });
    const withEarly = head(handshake, '\x81\x85early');
    expect(withEarly.upgrade).toBe(true);
    expect(withEarly.consumed).toBe(packet(handshake).length);
  });

  it('a plain request is not', () => {
    expect(upgrade(get())).toBe(false);
    expect(upgrade(get(['SERVER_PROTOCOL', 'HTTP/1.1'], ['HTTP_CONNECTION', 'keep-alive']))).toBe(false);
  });

  it('Connection is a token list in any case; repeated, one list', () => {
    const with_ = (connection: string): boolean =>
      upgrade(get(['SERVER_PROTOCOL', 'HTTP/1.1'], ['HTTP_CONNECTION', connection], ['HTTP_UPGRADE', 'websocket']));
    for (const yes of ['upgrade', 'Upgrade', 'UPGRADE', 'keep-alive, Upgrade', ' upgrade ,close', 'a,,upgrade', '\tupgrade\t'])
      expect(with_(yes), yes).toBe(true);
    for (const no of ['', 'keep-alive', 'upgrades', 'up grade', 'upgrade-x', '"upgrade"', 'close;upgrade']) expect(with_(no), no).toBe(false);
    expect(
      upgrade(get(['SERVER_PROTOCOL', 'HTTP/1.1'], ['HTTP_CONNECTION', 'keep-alive'], ['HTTP_CONNECTION', 'Upgrade'], ['HTTP_UPGRADE', 'websocket'])),
    ).toBe(true);
  });

  it('Connection and Upgrade are both needed; Upgrade counts by being there', () => {
    const base: Array<[string, string]> = [['SERVER_PROTOCOL', 'HTTP/1.1']];
    expect(upgrade(get(...base, ['HTTP_UPGRADE', 'websocket']))).toBe(false);
    expect(upgrade(get(...base, ['HTTP_CONNECTION', 'Upgrade']))).toBe(false);
    expect(upgrade(get(...base, ['HTTP_CONNECTION', 'Upgrade'], ['HTTP_UPGRADE', '']))).toBe(true);
    expect(upgrade(get(...base, ['HTTP_CONNECTION', 'Upgrade'], ['HTTP_UPGRADE_', 'websocket']))).toBe(false);
    expect(upgrade(get(...base, ['http_connection', 'Upgrade'], ['HTTP_UPGRADE', 'websocket']))).toBe(false);
  });

  it('only HTTP/1.1 upgrades; the last SERVER_PROTOCOL counts', () => {
    const asks: Array<[string, string]> = [
      ['HTTP_CONNECTION', 'upgrade'],
      ['HTTP_UPGRADE', 'websocket'],
    ];
    for (const [protocol, want] of [
      ['HTTP/1.1', true],
      ['HTTP/1.0', false],
      ['HTTP/2.0', false],
      ['http/1.1', false],
      ['HTTP/1.1 ', false],
      ['', false],
    ] as const) {
      expect(upgrade(get(['SERVER_PROTOCOL', protocol], ...asks)), protocol).toBe(want);
    }
    expect(upgrade(get(...asks))).toBe(false);
    expect(upgrade(get(['SERVER_PROTOCOL', 'HTTP/1.0'], ...asks, ['SERVER_PROTOCOL', 'HTTP/1.1']))).toBe(true);
    expect(upgrade(get(['SERVER_PROTOCOL', 'HTTP/1.1'], ...asks, ['SERVER_PROTOCOL', 'HTTP/1.0']))).toBe(false);
  });

  it('CONNECT always is; a body does not change the answer', () => {
    expect(upgrade([['REQUEST_METHOD', 'CONNECT']])).toBe(true);
    expect(
      upgrade([
        ['REQUEST_METHOD', 'CONNECT'],
        ['SERVER_PROTOCOL', 'HTTP/1.0'],
      ]),
    ).toBe(true);
    expect(upgrade([['REQUEST_METHOD', 'connect']])).toBe(false);
    const withBody = head(
      [
        ['REQUEST_METHOD', 'GET'],
        ['CONTENT_LENGTH', '5'],
        ['SERVER_PROTOCOL', 'HTTP/1.1'],
        ['HTTP_CONNECTION', 'Upgrade'],
        ['HTTP_UPGRADE', 'websocket'],
      ],
      'hello',
    );
    expect(withBody).toMatchObject({ contentLength: 5, upgrade: true });
  });

  it('the same answer as parseHead for the same head, and as the FastCGI params decoder', () => {
    const cases: Array<[string, string, Array<[string, string]>]> = [
      [
        'GET',
        'HTTP/1.1',
        [
          ['Connection', 'Upgrade'],
          ['Upgrade', 'websocket'],
        ],
      ],
      [
        'GET',
        'HTTP/1.1',
        [
          ['Connection', 'keep-alive, upgrade'],
          ['Upgrade', 'h2c'],
        ],
      ],
      [
        'GET',
        'HTTP/1.1',
        [
          ['Connection', 'close'],
          ['Connection', 'UPGRADE'],
          ['Upgrade', 'x'],
        ],
      ],
      [
        'GET',
        'HTTP/1.1',
        [
          ['Connection', 'Upgrade'],
          ['Upgrade', ''],
        ],
      ],
      ['GET', 'HTTP/1.1', [['Connection', 'Upgrade']]],
      ['GET', 'HTTP/1.1', [['Upgrade', 'websocket']]],
      [
        'GET',
        'HTTP/1.1',
        [
          ['Connection', 'upgrades'],
          ['Upgrade', 'websocket'],
        ],
      ],
      [
        'GET',
        'HTTP/1.0',
        [
          ['Connection', 'Upgrade'],
          ['Upgrade', 'websocket'],
        ],
      ],
      [
        'POST',
        'HTTP/1.1',
        [
          ['Connection', 'Upgrade'],
          ['Upgrade', 'websocket'],
        ],
      ],
      ['GET', 'HTTP/1.1', []],
      ['CONNECT', 'HTTP/1.1', []],
      ['CONNECT', 'HTTP/1.0', []],
    ];
    const httpLimits = { maxRequestLine: 8192, maxHeadBytes: 16384, maxHeaders: 100, maxBody: 0, maxChunkExtension: 4096 };
    for (const [method, version, headers] of cases) {
      const target = method === 'CONNECT' ? 'example.com:443' : '/ws';
      const text = `${method} ${target} ${version}\r\nHost: example.com\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
      const parsed = parseHead(Buffer.from(text, 'latin1'), text.length, httpLimits, new HeadVars()) as Head;
      const vars: Array<[string, string]> = [
        ['REQUEST_METHOD', method],
        ['SERVER_PROTOCOL', version],
        ...headers.map(([n, v]): [string, string] => [`HTTP_${n.toUpperCase()}`, v]),
      ];
      expect(upgrade(vars), text).toBe(parsed.upgrade);
      const params = new ParamsDecoder({ maxParamsBytes: 65536, maxVars: 1000, maxBody: 0 });
      expect(params.feed(nameValues(vars))).toBeNull();
      expect(params.feed(Buffer.alloc(0))).toBe(true);
      expect(params.upgrade, text).toBe(parsed.upgrade);
    }
  });
});
