/**
 * The waitUntil() promises of this process (a fetch handler's `ctx.waitUntil`): a
 * graceful stop waits for them. Apart from the fetch adapter so that the worker, which
 * always asks, loads no fetch machinery (undici's Request and Response) for an app that
 * is not a fetch handler.
 */
import { log } from '../log.js';
import { describeError } from '../errors.js';

/** What fetch hosts pass as the third argument (Cloudflare's ExecutionContext). */
export interface ExecutionContext {
  /** Lets `promise` run on after the response; its failure is logged. */
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
}

/** The waitUntil() promises not settled yet. */
const extended = new Set<Promise<unknown>>();

export const executionContext: ExecutionContext = {
  waitUntil(promise) {
    const settled = Promise.resolve(promise)
      .catch((error: unknown) => log.error(`a waitUntil() promise failed: ${describeError(error)}`))
      .finally(() => extended.delete(settled));
    extended.add(settled);
  },
  passThroughOnException() {},
};

/** Resolves once every waitUntil() promise, those added meanwhile included, has settled. */
export async function waitUntilSettled(): Promise<void> {
  while (extended.size > 0) await Promise.all(extended);
}
