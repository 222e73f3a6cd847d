/**
 * checkHead's rules for header names, which it remembers per spelling: the same answer the
 * first time, the hundredth, and past the bound of what it remembers.
 */
import { describe, expect, it } from 'vitest';
import { checkHead, isHopByHop } from '../../src/app/contract.js';
import { ErrorCodes, TsgiError } from '../../src/errors.js';

function fault(status: string, headers: Array<[string, string]>): string | null {
  try {
    checkHead(status, headers);
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(TsgiError);
    return (error as TsgiError).code;
  }
}

describe('checkHead: header names', () => {
  it('refuses hop-by-hop names in any case, every time they come', () => {
    for (let i = 0; i < 3; i++) {
      for (const name of ['Connection', 'connection', 'CONNECTION', 'Keep-Alive', 'Transfer-Encoding', 'TE', 'Trailer', 'Upgrade', 'Proxy-Connection']) {
        expect(fault('200 OK', [[name, 'x']]), name).toBe(ErrorCodes.HOP_BY_HOP_HEADER);
      }
    }
  });

  it('takes Upgrade and Connection on a 101 only, after the same names were refused elsewhere', () => {
    expect(fault('200 OK', [['Upgrade', 'websocket']])).toBe(ErrorCodes.HOP_BY_HOP_HEADER);
    expect(
      fault('101 Switching Protocols', [
        ['Upgrade', 'websocket'],
        ['Connection', 'Upgrade'],
      ]),
    ).toBeNull();
    expect(fault('101 Switching Protocols', [['Keep-Alive', '5']])).toBe(ErrorCodes.HOP_BY_HOP_HEADER);
  });

  it('refuses a Status header and a bad Content-Length whatever their spelling', () => {
    expect(fault('200 OK', [['status', '200']])).toBe(ErrorCodes.INVALID_HEADER);
    expect(fault('200 OK', [['Status', '200']])).toBe(ErrorCodes.INVALID_HEADER);
    expect(fault('200 OK', [['Content-Length', '12']])).toBeNull();
    expect(fault('200 OK', [['content-length', '1x']])).toBe(ErrorCodes.INVALID_HEADER);
    expect(
      fault('200 OK', [
        ['Content-Length', '3'],
        ['CONTENT-LENGTH', '4'],
      ]),
    ).toBe(ErrorCodes.INVALID_HEADER);
    expect(checkHead('200 OK', [['Content-Length', '3']]).contentLength).toBe(3);
  });

  it('checks names it no longer remembers as it checks the first ones', () => {
    // Far more distinct names than it keeps: each is still tested.
    for (let i = 0; i < 2000; i++) expect(fault('200 OK', [[`X-Made-Up-${i}`, 'v']])).toBeNull();
    expect(fault('200 OK', [['X Bad Name', 'v']])).toBe(ErrorCodes.INVALID_HEADER);
    expect(fault('200 OK', [['X-Bad:Name', 'v']])).toBe(ErrorCodes.INVALID_HEADER);
    expect(fault('200 OK', [['Keep-ALIVE', 'v']])).toBe(ErrorCodes.HOP_BY_HOP_HEADER);
    expect(fault('200 OK', [['Status', '200']])).toBe(ErrorCodes.INVALID_HEADER);
    expect(fault('200 OK', [['X-Made-Up-1999', 'a\r\nb']])).toBe(ErrorCodes.INVALID_HEADER);
  });

  it('isHopByHop answers for any spelling, and not for a name that is no token', () => {
    expect(isHopByHop('transfer-encoding')).toBe(true);
    expect(isHopByHop('Transfer-Encoding')).toBe(true);
    expect(isHopByHop('Content-Type')).toBe(false);
    expect(isHopByHop('Connection ')).toBe(false);
  });
});
