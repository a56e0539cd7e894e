/**
 * Stop strings over a token stream. A stop string may span several tokens, so a token is held back while
 * the generated text from somewhere inside it to the end could still grow into a stop string, and released
 * (in order, each once, ids preserved) as soon as it cannot. After the first token with which the text
 * contains a stop string, the text is cut at the earliest start of any stop string in it: everything before
 * is emitted (the token where the cut falls truncated to the part before it, if that part is non-empty) and
 * the rest is dropped. So with stops ["c", "bcd"], "ab" + "c" stops at "c"; "bcd" is never waited for.
 *
 * Positions are UTF-16 code units of the decoded text. A token with empty text (a multi-byte character not
 * yet complete) is held while it lies at the start of the held region, since '' can begin any stop string.
 */
import { IfpruneError } from '../errors.ts';

export interface StopToken {
  id: number;
  text: string;
}

export interface StopResult {
  /** Tokens now known to precede any stop string, in generation order. */
  emit: StopToken[];
  /** A stop string appeared: generation should end; later pushes emit nothing. */
  stopped: boolean;
}

export class StopMatcher {
  private readonly stops: readonly string[];
  /** Length of the longest stop string: text further back than this cannot begin a match. */
  private readonly maxLen: number;
  /** Tokens not yet emitted, and their concatenated text. */
  private held: StopToken[] = [];
  private heldText = '';
  private stopped = false;

  constructor(stops: string[]) {
    stops.forEach((s, i) => {
      if (typeof s !== 'string' || s.length === 0) {
        throw new IfpruneError('bad_option', `stop[${i}] = ${JSON.stringify(s)} is invalid: expected a non-empty string (an empty stop string would match before the first token)`);
      }
    });
    this.stops = [...stops];
    this.maxLen = stops.reduce((m, s) => Math.max(m, s.length), 0);
  }

  push(tok: StopToken): StopResult {
    if (this.stopped) return { emit: [], stopped: true };
    if (this.stops.length === 0) return { emit: [tok], stopped: false };
    this.held.push(tok);
    const text = (this.heldText += tok.text);

    // ---- a complete stop string? Only the held text can contain one (see `holdFrom`); take the earliest.
    let at = -1;
    for (const s of this.stops) {
      const i = text.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    if (at >= 0) {
      const emit: StopToken[] = [];
      let start = 0;
      for (const t of this.held) {
        if (start >= at) break;
        const end = start + t.text.length;
        emit.push(end <= at ? t : { id: t.id, text: t.text.slice(0, at - start) });
        start = end;
      }
      this.held = [];
      this.heldText = '';
      this.stopped = true;
      return { emit, stopped: true };
    }

    // ---- release the tokens that end at or before the earliest position that could begin a stop string
    const from = this.holdFrom(text);
    let start = 0;
    let k = 0;
    for (; k < this.held.length; k++) {
      const end = start + this.held[k]!.text.length;
      if (end > from || start >= from) break;
      start = end;
    }
    const emit = this.held.slice(0, k);
    this.held = this.held.slice(k);
    this.heldText = text.slice(start);
    return { emit, stopped: false };
  }

  /** At the end of generation: the held tokens (text that began a stop string that never completed). */
  flush(): StopToken[] {
    const out = this.held;
    this.held = [];
    this.heldText = '';
    return out;
  }

  /** The smallest j such that text.slice(j) is a prefix of some stop string (text.length if only ''). */
  private holdFrom(text: string): number {
    for (let j = Math.max(0, text.length - this.maxLen + 1); j < text.length; j++) {
      const tail = text.slice(j);
      if (this.stops.some((s) => s.startsWith(tail))) return j;
    }
    return text.length;
  }
}
