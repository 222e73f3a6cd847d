/** The requests in flight by slot: a token finds its request, a stale token of the same
 * slot finds nothing and removes nothing, and the count follows. */
import { describe, expect, it } from 'vitest';
import { Layout } from '../../src/native/batch.js';
import type { Exchange } from '../../src/server/exchange.js';
import { InFlight } from '../../src/server/in-flight.js';

const token = (slot: number, generation: number) => ((generation << Layout.TOKEN_SLOT_BITS) | slot) >>> 0;
const exchange = (t: number) => ({ token: t }) as Exchange;

describe('InFlight', () => {
  it('finds a request by its whole token, never by its slot alone', () => {
    const inFlight = new InFlight();
    const first = exchange(token(3, 1));
    inFlight.add(first);
    inFlight.add(exchange(token(0, 7)));
    expect(inFlight.get(token(3, 1))).toBe(first);
    expect(inFlight.get(token(3, 2))).toBeUndefined();
    expect(inFlight.delete(token(3, 2))).toBe(false);
    expect(inFlight.size).toBe(2);
    expect(inFlight.delete(token(3, 1))).toBe(true);
    expect(inFlight.has(token(3, 1))).toBe(false);
    expect(inFlight.size).toBe(1);
    // The slot's next request.
    const next = exchange(token(3, 2));
    inFlight.add(next);
    expect([...inFlight.values()].map((e) => e.token).sort()).toEqual([token(0, 7), token(3, 2)].sort());
    expect(inFlight.size).toBe(2);
  });
});
