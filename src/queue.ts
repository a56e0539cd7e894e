/**
 * The queue in front of one model: a FIFO mutex whose waiters can leave when their request is aborted
 * or its deadline passes. A model runs one thing at a time (one wasm instance, one KV cache, one set of
 * active neurons), so `generate`, `instruct` and `load` wait their turn here instead of failing; every
 * request handler over the model shares the same queue.
 */
import { IfpruneError } from './errors.ts';

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
      if (next) next();
      else this.locked = false;
    };
  }
}

export const abortedWhileQueued = (): IfpruneError => new IfpruneError('aborted', 'the request was cancelled while it waited for the model');
