/**
 * The queue in front of one model: a FIFO mutex whose waiters can leave when their request is aborted
 * or its deadline passes. A model runs one thing at a time (one wasm instance, one KV cache, one set of
 * active neurons), so `generate`, `instruct` and `load` wait their turn here instead of failing; every
 * request handler over the model shares the same queue.
 */
import { IfpruneError } from './errors.ts';

const g = globalThis as { setImmediate?: (f: () => void) => void };
/**
 * Calls f after a full turn of the host's event loop, timers included: setImmediate where it exists
 * (Node, Deno, workerd), twice — an immediate queued from the check phase runs in the next loop
 * iteration, after its timers phase, while a single one may run before any timer; else setTimeout(0).
 */
export function afterTurn(f: () => void): void {
  if (g.setImmediate) g.setImmediate(() => g.setImmediate!(f));
  else setTimeout(f, 0);
}

export class Mutex {
  private locked = false;
  private waiters: (() => void)[] = [];

  /**
   * Resolves to the release function once it is this caller's turn. Rejects with `signal`'s error if it
   * fires first: `reason()` gives it (default: 'aborted'), and the caller leaves the queue.
   */
  acquire(signal?: AbortSignal, reason: () => Error = abortedWhileQueued): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(reason());
    if (!this.locked) {
      this.locked = true;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const turn = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve(this.releaser());
      };
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== turn);
        reject(reason());
      };
      this.waiters.push(turn);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Callers waiting for their turn (not counting the one holding the lock). */
  get queued(): number {
    return this.waiters.length;
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      // The next caller starts after an event-loop turn (the lock stays held meanwhile, so no newcomer
      // passes it): queued calls that each finish within a yield interval would otherwise run back to
      // back on promise callbacks alone, and timers, I/O and client disconnects would wait for all of them.
      if (next) afterTurn(next);
      else this.locked = false;
    };
  }
}

export const abortedWhileQueued = (): IfpruneError => new IfpruneError('aborted', 'the request was cancelled while it waited for the model');
