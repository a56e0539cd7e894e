import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { StopMatcher, type StopToken } from '../src/reference/stop.ts';
import { assertThrowsCode, rng } from './helpers.ts';

/** Pushes `texts` as tokens with ids 100, 101, ...; returns what came out after each push, and the end state. */
function run(stops: string[], texts: string[]) {
  const m = new StopMatcher(stops);
  const steps: StopToken[][] = [];
  let stopped = false;
  for (const [i, text] of texts.entries()) {
    const r = m.push({ id: 100 + i, text });
    steps.push(r.emit);
    if (r.stopped) {
      stopped = true;
      break;
    }
  }
  const flushed = m.flush();
  const all = [...steps.flat(), ...flushed];
  return { steps, flushed, stopped, all, text: all.map((t) => t.text).join('') };
}

const tok = (id: number, text: string): StopToken => ({ id, text });

// ---

const Push = suite('StopMatcher.push');

Push('with no stop strings every token is emitted immediately', () => {
  const r = run([], ['Hello', '', ' world']);
  assert.equal(r.steps, [[tok(100, 'Hello')], [tok(101, '')], [tok(102, ' world')]]);
  assert.is(r.stopped, false);
});

Push('tokens that cannot begin a stop string are emitted immediately', () => {
  const r = run(['</s>'], ['Once', ' upon', ' a']);
  assert.equal(r.steps, [[tok(100, 'Once')], [tok(101, ' upon')], [tok(102, ' a')]]);
  assert.equal(r.flushed, []);
});

Push('a stop inside one token: the part before it is emitted, truncated, and generation stops', () => {
  const r = run(['\n\n'], ['The end', '.\n\nNext', 'never']);
  assert.equal(r.steps, [[tok(100, 'The end')], [tok(101, '.')]]);
  assert.is(r.stopped, true);
  assert.equal(r.flushed, []);
});

Push('a stop spanning three tokens is held, then dropped', () => {
  const r = run(['<|im_end|>'], ['Hi', ' there<|', 'im', '_end|>', 'after']);
  assert.equal(r.steps, [[tok(100, 'Hi')], [], [], [tok(101, ' there')]]);
  assert.is(r.stopped, true);
  assert.is(r.text, 'Hi there');
});

Push('the token holding the stop start is emitted only with its text before the stop', () => {
  const r = run(['STOP'], ['abST', 'OP']);
  assert.equal(r.steps, [[], [tok(100, 'ab')]]);
});

Push('a token that is entirely the stop start is not emitted at all', () => {
  const r = run(['STOP'], ['ab', 'ST', 'OP']);
  assert.equal(r.all, [tok(100, 'ab')]);
});

Push('a stop prefix that does not complete is released later, in order, each token once', () => {
  const r = run(['<|im_end|>'], ['a', '<|', 'im', '_start|>', 'b']);
  assert.equal(r.steps, [[tok(100, 'a')], [], [], [tok(101, '<|'), tok(102, 'im'), tok(103, '_start|>')], [tok(104, 'b')]]);
  assert.is(r.stopped, false);
});

Push('a failed prefix that overlaps a new prefix keeps only what can still match', () => {
  // "aab" with stop "ab": "a" held, then "a" again (first a released), then "b" completes at index 1
  const r = run(['ab'], ['a', 'a', 'b']);
  assert.equal(r.steps, [[], [tok(100, 'a')], []]);
  assert.is(r.stopped, true);
  assert.is(r.text, 'a');
});

Push('a token straddling the hold point is held whole, with its id', () => {
  const r = run(['END'], ['xE', 'Nx']);
  assert.equal(r.steps, [[], [tok(100, 'xE'), tok(101, 'Nx')]]);
});

Push('with several stop strings the first to appear wins, cut at the earliest start in that token', () => {
  const r = run(['###', '\nUser:'], ['Sure.', '\nUs', 'er: ### no']);
  assert.equal(r.all, [tok(100, 'Sure.')]);
  assert.is(r.stopped, true);
  const r2 = run(['User', 'er:'], ['Us', 'er:']); // both complete in the same token; "User" starts first
  assert.equal(r2.all, []);
  const r3 = run(['b', 'abc'], ['xa', 'bc']); // both complete with "bc"; "abc" starts first
  assert.equal(r3.all, [tok(100, 'x')]);
  const r4 = run(['c', 'bcd'], ['ab', 'c', 'd']); // "c" appears a token before "bcd" could complete
  assert.equal(r4.all, [tok(100, 'ab')]);
});

Push('a stop string that is a prefix of another stops at the shorter one', () => {
  const r = run(['ab', 'abc'], ['x', 'a', 'b', 'c']);
  assert.equal(r.all, [tok(100, 'x')]);
  assert.is(r.stopped, true);
});

Push('a stop at the very start emits nothing', () => {
  const r = run(['</s>'], ['</s>', 'more']);
  assert.equal(r.steps, [[]]);
  assert.is(r.stopped, true);
  assert.equal(run(['</s>'], ['</', 's>']).all, []);
});

Push('after stopping, pushes emit nothing and report stopped', () => {
  const m = new StopMatcher(['x']);
  assert.equal(m.push(tok(1, 'ax')), { emit: [tok(1, 'a')], stopped: true });
  assert.equal(m.push(tok(2, 'b')), { emit: [], stopped: true });
  assert.equal(m.flush(), []);
});

Push('empty-text tokens (an incomplete character) stay in order and are held at a stop boundary', () => {
  const r = run(['é!'], ['a', '', 'é', '?']); // id 101 is the first byte of "é"
  assert.equal(r.steps, [[tok(100, 'a')], [], [], [tok(101, ''), tok(102, 'é'), tok(103, '?')]]);
  const r2 = run(['é!'], ['a', '', 'é!']);
  assert.equal(r2.all, [tok(100, 'a')]);
  assert.is(r2.stopped, true);
});

Push('unicode stop strings, astral characters included, spanning tokens', () => {
  const r = run(['。\n', '🛑'], ['こんにちは', '。', '\n次']);
  assert.equal(r.all, [tok(100, 'こんにちは')]);
  assert.is(r.stopped, true);
  const r2 = run(['🛑stop'], ['ok 🙂', '🛑', 'st', 'ay 🙂']);
  assert.equal(r2.all.map((t) => t.id), [100, 101, 102, 103]);
  assert.is(r2.text, 'ok 🙂🛑stay 🙂');
  const r3 = run(['🛑stop'], ['é🛑', 'sto', 'p!']);
  assert.equal(r3.all, [tok(100, 'é')]);
});

Push('random streams: the output is the text before the first stop to appear, ids in order, never duplicated', () => {
  const r = rng(5);
  const alphabet = ['a', 'b', 'c', 'ab', 'ba', 'abc', '', 'é', '🙂'];
  for (let t = 0; t < 500; t++) {
    const stops = Array.from({ length: 1 + Math.floor(r() * 3) }, () => ['ab', 'bca', 'cc', 'é🙂', 'aaa', 'c'][Math.floor(r() * 6)]!);
    const texts = Array.from({ length: Math.floor(r() * 12) }, () => alphabet[Math.floor(r() * alphabet.length)]!);
    const res = run(stops, texts);
    // the oracle: the first token after which the text contains a stop; cut at its earliest start
    let full = texts.join('');
    let at = Infinity;
    for (let k = 1; k <= texts.length && at === Infinity; k++) {
      const prefix = texts.slice(0, k).join('');
      at = Math.min(...stops.map((s) => prefix.indexOf(s)).filter((i) => i >= 0));
      if (at !== Infinity) full = prefix;
    }
    const label = `case ${t}: stops ${JSON.stringify(stops)} texts ${JSON.stringify(texts)}`;
    assert.is(res.stopped, at !== Infinity, label);
    assert.is(res.text, at === Infinity ? full : full.slice(0, at), label);
    const ids = res.all.map((x) => x.id);
    assert.equal(ids, ids.map((_, i) => 100 + i), `${label}: ids in order, each once, none skipped`);
    if (at === Infinity) assert.is(ids.length, texts.length, `${label}: every token comes out`);
    res.all.forEach((x) => assert.ok(texts[x.id - 100]!.startsWith(x.text), `${label}: token ${x.id} text ${x.text}`));
  }
});

Push('empty or non-string stop strings throw bad_option', async () => {
  const err = await assertThrowsCode(() => new StopMatcher(['ok', '']), 'bad_option');
  assert.match(err.message, /stop\[1\]/);
  await assertThrowsCode(() => new StopMatcher([3 as unknown as string]), 'bad_option');
});

Push.run();

// ---

const Flush = suite('StopMatcher.flush');

Flush('returns the held tokens of an unfinished stop prefix, in order, then nothing', () => {
  const m = new StopMatcher(['<|im_end|>']);
  assert.equal(m.push(tok(1, 'x')).emit, [tok(1, 'x')]);
  assert.equal(m.push(tok(2, '<|im')).emit, []);
  assert.equal(m.push(tok(3, '_e')).emit, []);
  assert.equal(m.flush(), [tok(2, '<|im'), tok(3, '_e')]);
  assert.equal(m.flush(), []);
});

Flush('returns nothing when nothing is held', () => {
  const m = new StopMatcher(['zz']);
  m.push(tok(1, 'abc'));
  assert.equal(m.flush(), []);
});

Flush.run();
