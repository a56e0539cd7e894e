// Stop strings over a token stream, the AssemblyScript port of src/engine/stop.ts (its test oracle:
// test/rt-sampler.test.ts requires the same emitted (id, text) sequence and stopped flag).
//
// A stop string may span several tokens, so a token is held back while the generated text from somewhere
// inside it to the end could still grow into a stop string, and released (in order, each once, ids
// preserved) as soon as it cannot. After the first token with which the text contains a stop string, the
// text is cut at the earliest start of any stop string in it: everything before is emitted (the token
// where the cut falls truncated to the part before it, if that part is non-empty) and the rest is dropped.
// So with stops ["c", "bcd"], "ab" + "c" stops at "c"; "bcd" is never waited for.
//
// Positions are UTF-16 code units of the decoded text (AssemblyScript strings are UTF-16, as JS's are).
// A token with empty text (a multi-byte character not yet complete) is held while it lies at the start of
// the held region, since '' can begin any stop string.
import { fail } from './error';

export class StopToken {
  constructor(public id: i32, public text: string) {}
}

export class StopResult {
  constructor(
    /** Tokens now known to precede any stop string, in generation order. */
    public emit: Array<StopToken>,
    /** A stop string appeared: generation should end; later pushes emit nothing. */
    public stopped: bool,
  ) {}
}

export class StopMatcher {
  private stops: Array<string>;
  /** Length of the longest stop string: text further back than this cannot begin a match. */
  private maxLen: i32 = 0;
  /** Tokens not yet emitted, and their concatenated text. */
  private held: Array<StopToken> = [];
  private heldText: string = '';
  private stopped: bool = false;

  /**
   * A matcher for `stops`, or null with fail('bad_option', the TS message) when one is empty (it would
   * match before the first token).
   */
  static create(stops: Array<string>): StopMatcher | null {
    for (let i = 0; i < stops.length; i++) {
      if (stops[i].length == 0) {
        fail('bad_option', 'stop[' + i.toString() + '] = "" is invalid: expected a non-empty string (an empty stop string would match before the first token)');
        return null;
      }
    }
    return new StopMatcher(stops);
  }

  /** Use create(), which validates; this assumes every stop string is non-empty. Copies `stops`. */
  constructor(stops: Array<string>) {
    this.stops = stops.slice(0);
    for (let i = 0; i < stops.length; i++) this.maxLen = max(this.maxLen, stops[i].length);
  }

  push(id: i32, text: string): StopResult {
    if (this.stopped) return new StopResult([], true);
    const tok = new StopToken(id, text);
    if (this.stops.length == 0) return new StopResult([tok], false);
    this.held.push(tok);
    const all = (this.heldText += text);

    // ---- a complete stop string? Only the held text can contain one (see holdFrom); take the earliest.
    let cut = -1;
    for (let s = 0; s < this.stops.length; s++) {
      const i = all.indexOf(this.stops[s]);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      const emit = new Array<StopToken>();
      let start = 0;
      for (let k = 0; k < this.held.length; k++) {
        if (start >= cut) break;
        const t = this.held[k];
        const end = start + t.text.length;
        emit.push(end <= cut ? t : new StopToken(t.id, t.text.slice(0, cut - start)));
        start = end;
      }
      this.held = [];
      this.heldText = '';
      this.stopped = true;
      return new StopResult(emit, true);
    }

    // ---- release the tokens that end at or before the earliest position that could begin a stop string
    const from = this.holdFrom(all);
    let start = 0;
    let k = 0;
    for (; k < this.held.length; k++) {
      const end = start + this.held[k].text.length;
      if (end > from || start >= from) break;
      start = end;
    }
    const emit = this.held.slice(0, k);
    this.held = this.held.slice(k);
    this.heldText = all.slice(start);
    return new StopResult(emit, false);
  }

  /** At the end of generation: the held tokens (text that began a stop string that never completed). */
  flush(): Array<StopToken> {
    const out = this.held;
    this.held = [];
    this.heldText = '';
    return out;
  }

  /** The smallest j such that text.slice(j) is a prefix of some stop string (text.length if only ''). */
  private holdFrom(text: string): i32 {
    for (let j = max(0, text.length - this.maxLen + 1); j < text.length; j++) {
      const tail = text.slice(j);
      for (let s = 0; s < this.stops.length; s++) if (this.stops[s].startsWith(tail)) return j;
    }
    return text.length;
  }
}
