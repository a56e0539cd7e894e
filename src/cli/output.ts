/**
 * What the long, file-writing commands (convert, calibrate, eval) share: the progress display, and the
 * check that an output would not overwrite the input; and what a model read over HTTP cost (run,
 * inspect, eval report it).
 *
 * Progress is rendered one of three ways from the same calls:
 *
 *   --json        {"event":"progress", ...event} lines on stdout (stdout then holds only JSON lines)
 *   a terminal    one bar on stderr, redrawn in place:  phase  [######........]  40% what
 *   otherwise     plain lines on stderr, one per phase and per 10%
 *
 * Updates are throttled (200 ms on a terminal or in JSON, 2 s in plain lines); a phase's first and last
 * update always show.
 */
import { realpath } from 'node:fs/promises';
import type { ByteSource } from '../sources/types.ts';
import type { HttpSource } from '../sources/http.ts';

export class Progress {
  private last = 0;
  private lastPhase = '';
  private lastPct = -1;
  private drawn = false;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(private readonly json: boolean) {}

  /**
   * `phase` names the step ("collecting"), `what` says where it is ("12/40 examples", already escaped),
   * `event` is the object written in JSON mode.
   */
  update(phase: string, done: number, total: number, what: string, event: object): void {
    const now = performance.now();
    const final = done >= total;
    if (phase === this.lastPhase && !final && now - this.last < (this.json || this.tty ? 200 : 2000)) return;
    this.last = now;
    const pct = total ? Math.floor((100 * done) / total) : 100;
    if (this.json) {
      process.stdout.write(JSON.stringify({ event: 'progress', ...event }) + '\n');
    } else if (this.tty) {
      const width = 30;
      const fill = Math.round((width * pct) / 100);
      process.stderr.write(`\r\x1b[2K${phase.padEnd(15)} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(pct).padStart(3)}% ${what}`.slice(0, (process.stderr.columns || 100) + 6));
      this.drawn = true;
    } else if (phase !== this.lastPhase || Math.floor(pct / 10) !== Math.floor(this.lastPct / 10)) {
      process.stderr.write(`${phase}: ${pct}%${what ? ` (${what})` : ''}\n`);
    }
    this.lastPhase = phase;
    this.lastPct = pct;
  }

  /** Clears the bar (call before printing the result, and on failure). */
  end(): void {
    if (this.drawn) process.stderr.write('\r\x1b[2K');
    this.drawn = false;
  }
}

/** Whether two paths name the same existing file (false when either does not exist yet). */
export async function sameFile(a: string, b: string): Promise<boolean> {
  try {
    return (await realpath(a)) === (await realpath(b));
  } catch {
    return false;
  }
}

/** What reading a model over HTTP cost, for --json's "source" (undefined for a local file). */
export interface SourceStats {
  /** The URL without its query string (which may hold a signature). */
  url: string;
  /** Requests sent (HEAD, probes, reads, retries) and body bytes received (read-through gaps included). */
  requests: number;
  bytes: number;
  retries: number;
  /** The model file's size, to compare `bytes` with. */
  fileBytes: number;
}

export function sourceStats(src: ByteSource | undefined): SourceStats | undefined {
  const http = src as HttpSource | undefined;
  if (typeof http?.stats !== 'function' || typeof http.url !== 'string') return undefined;
  return { url: http.name, ...http.stats(), fileBytes: http.size };
}
