/**
 * FastCGI management records (request id 0, docs/malformed-input.md):
 * UNKNOWN_TYPE for a management type tsgi does not know (F4), and GET_VALUES answered with
 * the known names in the order asked, from the server's limits (F5), before, between and
 * after requests on the same connection. Each fixture is replayed whole, in three pieces
 * and byte by byte; the reply is exact and the server keeps serving.
 */
import { getValues, record, reply, stdin } from '../helpers/fastcgi.js';
import { answers, cat, cgi, describeFixtures, get, head, ok, unknownType, valuesResult, vars, type Fixture } from '../helpers/fastcgi-server.js';
import { useTestServers } from '../helpers/servers.js';

const servers = useTestServers();

const fixtures: Fixture[] = [
  // F4: unknown management types
  ...[0, 10, 11, 12, 128, 255].map((type) =>
    answers(
      'F4',
      `management type ${type}, then a request`,
      cat(record(type, 0, 'xyz', 5), get('/f4')),
      cat(unknownType(type), reply(1, ok('/f4'))),
      `UNKNOWN_TYPE ${type}, then served`,
      { calls: 1 },
    ),
  ),
  // F5: GET_VALUES
  answers(
    'F5',
    'GET_VALUES for the three standard names, then a request',
    cat(getValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS']), get('/f5')),
    cat(
      valuesResult([
        ['FCGI_MAX_CONNS', '10000'],
        ['FCGI_MAX_REQS', '100'],
        ['FCGI_MPXS_CONNS', '1'],
      ]),
      reply(1, ok('/f5')),
    ),
    'the defaults, then served',
    { calls: 1 },
  ),
  answers(
    'F5',
    'GET_VALUES in another order with unknown names, maxConns 50 and fastcgiMaxReqs 7',
    cat(getValues(['FCGI_MAX_REQS', 'FCGI_UNKNOWN', 'FCGI_MAX_CONNS', 'X', 'FCGI_MPXS_CONNS']), get('/f5')),
    cat(
      valuesResult([
        ['FCGI_MAX_REQS', '7'],
        ['FCGI_MAX_CONNS', '50'],
        ['FCGI_MPXS_CONNS', '1'],
      ]),
      reply(1, ok('/f5')),
    ),
    'known names in the order asked, then served',
    { calls: 1, options: { maxConns: 50, fastcgiMaxReqs: 7 } },
  ),
  answers(
    'F5',
    'GET_VALUES with fastcgiMultiplex false and fastcgiMaxReqs 7',
    cat(getValues(['FCGI_MPXS_CONNS', 'FCGI_MAX_REQS']), get('/f5')),
    cat(
      valuesResult([
        ['FCGI_MPXS_CONNS', '0'],
        ['FCGI_MAX_REQS', '1'],
      ]),
      reply(1, ok('/f5')),
    ),
    'FCGI_MPXS_CONNS 0, and FCGI_MAX_REQS 1: without multiplexing a connection carries one request at a time',
    { calls: 1, options: { fastcgiMaxReqs: 7, fastcgiMultiplex: false } },
  ),
  answers(
    'F5',
    'GET_VALUES for unknown names only',
    cat(getValues(['FCGI_NOPE']), get('/f5')),
    cat(valuesResult([]), reply(1, ok('/f5'))),
    'an empty result, then served',
    { calls: 1 },
  ),
  answers(
    'F5',
    'GET_VALUES between the PARAMS and the STDIN of a request',
    cat(head(1, vars('/echo', [['CONTENT_LENGTH', '3']], 'POST')), getValues(['FCGI_MPXS_CONNS']), stdin(1, 'abc'), stdin(1, '')),
    cat(valuesResult([['FCGI_MPXS_CONNS', '1']]), reply(1, cgi('echo abc'))),
    'answered, and the request completes',
    { calls: 1 },
  ),
];

describeFixtures(servers, fixtures);
