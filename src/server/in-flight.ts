/**
 * The requests being served, by token. A token is a slot and that slot's generation in
 * both reactors (crates/tsgi-reactor/src/table.rs, src/pure/stream.ts): the slots are
 * few and reused, so an array by slot holds the requests, each lookup checking the whole
 * token. A Map would do, but its hash table churns with every request (a deleted entry
 * stays until the table is rebuilt, and a rebuilt table is a new one); measured on the
 * native reactor, the tables it left behind kept each request's objects alive through
 * every young-generation GC until the next full one (docs/performance-notes.md).
 */
import type { Exchange } from './exchange.js';
import { Layout } from '../native/batch.js';

const SLOT_MASK = (1 << Layout.TOKEN_SLOT_BITS) - 1;

export class InFlight {
  private readonly bySlot: Array<Exchange | undefined> = [];
  private count = 0;

  /** Requests being served. */
  get size(): number {
    return this.count;
  }

  get(token: number): Exchange | undefined {
    const exchange = this.bySlot[token & SLOT_MASK];
    return exchange?.token === token ? exchange : undefined;
  }

  has(token: number): boolean {
    return this.get(token) !== undefined;
  }

  /** Adds `exchange` under its token; a request still in its slot would be a reactor bug. */
  add(exchange: Exchange): void {
    const slot = exchange.token & SLOT_MASK;
    if (this.bySlot[slot] === undefined) this.count++;
    this.bySlot[slot] = exchange;
  }

  /** Removes the request of `token`; false if it is not here. */
  delete(token: number): boolean {
    const slot = token & SLOT_MASK;
    if (this.bySlot[slot]?.token !== token) return false;
    this.bySlot[slot] = undefined;
    this.count--;
    return true;
  }

  /** Every request being served, in no particular order. */
  *values(): IterableIterator<Exchange> {
    for (const exchange of this.bySlot) if (exchange !== undefined) yield exchange;
  }
}
