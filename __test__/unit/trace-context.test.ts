/**
 * The W3C traceparent header as the request log reads it: the trace id of a well-formed
 * header, nothing of a malformed one (each rule of the spec's grammar at its edge), and
 * the id in `%(trace_id)` and `--log-json`'s `trace_id`.
 */
import { describe, expect, it } from 'vitest';
import { compileFormat, requestLogger, type LoggedRequest } from '../../src/observe/request-log.js';
import { traceId } from '../../src/observe/trace-context.js';
import type { Exchange } from '../../src/server/exchange.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const VALID = `00-${TRACE}-00f067aa0ba902b7-01`;

describe('traceId', () => {
  it("reads a version-00 header's trace id", () => {
    expect(traceId(VALID)).toBe(TRACE);
    expect(traceId(`00-${TRACE}-00f067aa0ba902b7-00`)).toBe(TRACE);
  });

  it('reads a later version, skipping the fields it adds after a dash', () => {
    expect(traceId(`01-${TRACE}-00f067aa0ba902b7-01`)).toBe(TRACE);
    expect(traceId(`01-${TRACE}-00f067aa0ba902b7-01-what-comes-later`)).toBe(TRACE);
    expect(traceId(`01-${TRACE}-00f067aa0ba902b7-01x`)).toBeNull();
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['one character short', VALID.slice(0, -1)],
    ['one character long (version 00)', `${VALID}0`],
    ['version ff', `ff-${TRACE}-00f067aa0ba902b7-01`],
    ['version not hex', `0g-${TRACE}-00f067aa0ba902b7-01`],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['flags not hex', `00-${TRACE}-00f067aa0ba902b7-0z`],
    ['a separator moved', `00-${TRACE}0-0f067aa0ba902b7-01`],
    ['underscores for dashes', VALID.replace(/-/g, '_')],
  ])('treats a header %s as absent', (_, header) => {
    expect(traceId(header)).toBeNull();
  });
});

describe('the trace id in the request log', () => {
  function finished(traceparent?: string): LoggedRequest {
    const vars: Record<string, string> = traceparent === undefined ? {} : { HTTP_TRACEPARENT: traceparent };
    const record = { get: () => undefined, lookup: (name: string) => vars[name], nvars: 1, headSize: 10, contentLength: 0, flags: 0 };
    const exchange = { record, status: 200, bodyBytes: 0, headerBytes: 0, headerCount: 0, switches: 1 } as unknown as Exchange;
    return { exchange, msecs: 1, startedAtEpoch: Date.UTC(2026, 0, 1), pid: 1, wid: 1, workerRequests: 1, totalRequests: () => 1 };
  }
  const options = { 'disable-logging': false, 'log-4xx': false, 'log-5xx': false, 'log-slow': 0 } as const;

  it("%(trace_id): the id, or '-' when the header is absent or malformed", () => {
    const line = compileFormat('%(status) %(trace_id)');
    expect(line(finished(VALID))).toBe(`200 ${TRACE}`);
    expect(line(finished())).toBe('200 -');
    expect(line(finished('00-nonsense'))).toBe('200 -');
  });

  it('--log-json: a trace_id field when the header is valid, none otherwise', () => {
    const json = requestLogger({ ...options, 'log-json': true })!;
    expect(JSON.parse(json(finished(VALID))!)).toMatchObject({ trace_id: TRACE, status: 200 });
    expect(JSON.parse(json(finished('00-nonsense'))!)).not.toHaveProperty('trace_id');
  });
});
