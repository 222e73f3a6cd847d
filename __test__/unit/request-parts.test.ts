/**
 * Header names and environ keys (src/adapters/request-parts.ts): the same answer the first
 * time a name is asked, the next times, and past the bound of the names it remembers.
 */
import { describe, expect, it } from 'vitest';
import { environKey, headerName } from '../../src/adapters/request-parts.js';

describe('environKey', () => {
  it('names the CGI var of a lowercase header, every time', () => {
    for (let i = 0; i < 3; i++) {
      expect(environKey('content-type')).toBe('CONTENT_TYPE');
      expect(environKey('content-length')).toBe('CONTENT_LENGTH');
      expect(environKey('x-forwarded-for')).toBe('HTTP_X_FORWARDED_FOR');
      expect(environKey('host')).toBe('HTTP_HOST');
    }
  });

  it('has no var for a name no proxy would pass on, every time', () => {
    for (let i = 0; i < 3; i++) {
      expect(environKey('x_under')).toBeUndefined();
      expect(environKey('X-Upper')).toBeUndefined();
      expect(environKey('bad name')).toBeUndefined();
    }
  });

  it('answers alike for names past those it remembers', () => {
    for (let i = 0; i < 2000; i++) expect(environKey(`x-made-up-${i}`)).toBe(`HTTP_X_MADE_UP_${i}`);
    expect(environKey('x_late')).toBeUndefined();
    expect(environKey('x-late')).toBe('HTTP_X_LATE');
    expect(headerName(environKey('x-late')!)).toBe('x-late');
  });
});
