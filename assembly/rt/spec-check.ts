// The one consistency check every format reader runs on the ModelSpec it built (gguf.ts, llama2c.ts;
// TS oracle src/formats/spec-check.ts): the config adds up, and every tensor the forward pass reads
// exists with the shape the config implies. Shapes are GGUF dims, ne0 (the input width) first.
//
// The hyperparameters arrive as f64 (ConfigValues), as the TS numbers do, so the same values pass and
// fail the same checks; only then do they become ModelConfig's i32 / f32.
import { ModelConfig, ModelSpec } from './spec';
import { fail } from './error';
import { MAX_SAFE_INTEGER } from './reader';

/** The hyperparameters as read from the file, before checking. */
export class ConfigValues {
  dim: f64 = 0;
  hiddenDim: f64 = 0;
  nLayers: f64 = 0;
  nHeads: f64 = 0;
  nKvHeads: f64 = 0;
  headSize: f64 = 0;
  vocabSize: f64 = 0;
  seqLen: f64 = 0;
  ropeDim: f64 = 0;
  normEps: f64 = 1e-5;
  ropeBase: f64 = 10000;
  ropeNeox: bool = false;
  tiedEmbeddings: bool = false;
  qkvBias: bool = false;
}

/** Number.isSafeInteger(x) && x > 0 */
function isPositiveInteger(x: f64): bool {
  return x > 0 && x <= MAX_SAFE_INTEGER && Math.floor(x) == x;
}

/** "[3,4]" as the TS prints a dims array in messages. */
export function dimsString(dims: Array<i64>): string {
  const parts = new Array<string>(dims.length);
  for (let i = 0; i < dims.length; i++) parts[i] = dims[i].toString();
  return '[' + parts.join(',') + ']';
}

/** Prints an f64 as JS does for integers ("64", not "64.0"). */
export function numString(x: f64): string {
  return Math.floor(x) == x && Math.abs(x) <= MAX_SAFE_INTEGER ? (<i64>x).toString() : x.toString();
}

class ShapeCheck {
  constructor(public spec: ModelSpec, public v: ConfigValues, public where: string) {}

  /** Tensor `name` exists with GGUF dims [d0] (d1 < 0) or [d0, d1]; otherwise fail('corrupt'). */
  expect(name: string, d0: f64, d1: f64): bool {
    const want = d1 < 0 ? '[' + numString(d0) + ']' : '[' + numString(d0) + ',' + numString(d1) + ']';
    if (!this.spec.tensors.has(name)) return fail('corrupt', this.where + ': tensor ' + name + ' is missing (expected shape ' + want + ', ne0 first)');
    const dims = this.spec.tensors.get(name).dims;
    const n = d1 < 0 ? 1 : 2;
    if (dims.length != n || <f64>dims[0] != d0 || (n == 2 && <f64>dims[1] != d1)) {
      const c = this.v;
      return fail('corrupt', this.where + ': tensor ' + name + ' has shape ' + dimsString(dims) + ', expected ' + want + ' (ne0 first) for dim ' + numString(c.dim) +
        ', hiddenDim ' + numString(c.hiddenDim) + ', ' + numString(c.nHeads) + ' heads, ' + numString(c.nKvHeads) + ' kv heads, vocab ' + numString(c.vocabSize));
    }
    return true;
  }
}

/**
 * Checks the values and the tensor table as checkModelSpec does, then stores the config in spec.config.
 * `where` names the model in messages ("gguf model x.gguf"). On a problem: fail('corrupt') and false.
 */
export function checkModelSpec(spec: ModelSpec, v: ConfigValues, where: string): bool {
  const names = ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'headSize', 'vocabSize', 'seqLen', 'ropeDim'];
  const values = [v.dim, v.hiddenDim, v.nLayers, v.nHeads, v.nKvHeads, v.headSize, v.vocabSize, v.seqLen, v.ropeDim];
  for (let i = 0; i < names.length; i++) {
    if (!isPositiveInteger(values[i])) return fail('corrupt', where + ': ' + names[i] + ' is ' + numString(values[i]) + '; it must be a positive integer');
  }
  if (v.nHeads * v.headSize != v.dim) return fail('corrupt', where + ': dim ' + numString(v.dim) + ' is not nHeads ' + numString(v.nHeads) + ' x headSize ' + numString(v.headSize));
  if (v.nHeads % v.nKvHeads != 0) return fail('corrupt', where + ': nHeads ' + numString(v.nHeads) + ' is not a multiple of nKvHeads ' + numString(v.nKvHeads));
  if (v.ropeDim % 2 != 0 || v.ropeDim > v.headSize) return fail('corrupt', where + ': rope dimension ' + numString(v.ropeDim) + ' must be even and at most headSize ' + numString(v.headSize));
  if (!(v.normEps > 0 && v.normEps < 1)) return fail('corrupt', where + ': RMSNorm epsilon ' + v.normEps.toString() + ' is not in (0, 1)');
  if (!(v.ropeBase > 1 && isFinite(v.ropeBase))) return fail('corrupt', where + ': RoPE base ' + v.ropeBase.toString() + ' must be a finite number > 1');

  // Every tensor the forward pass reads (expectedTensorShapes), in the TS order.
  const kvDim = v.nKvHeads * v.headSize;
  const qDim = v.nHeads * v.headSize;
  const s = new ShapeCheck(spec, v, where);
  if (!s.expect('token_embd.weight', v.dim, v.vocabSize)) return false; // (vocab, dim)
  for (let l: i64 = 0; l < <i64>v.nLayers; l++) {
    const b = 'blk.' + l.toString() + '.';
    if (!s.expect(b + 'attn_norm.weight', v.dim, -1)) return false;
    if (!s.expect(b + 'attn_q.weight', v.dim, qDim)) return false; // (dim, dim)
    if (!s.expect(b + 'attn_k.weight', v.dim, kvDim)) return false; // (kvDim, dim)
    if (!s.expect(b + 'attn_v.weight', v.dim, kvDim)) return false; // (kvDim, dim)
    if (v.qkvBias) {
      if (!s.expect(b + 'attn_q.bias', qDim, -1)) return false;
      if (!s.expect(b + 'attn_k.bias', kvDim, -1)) return false;
      if (!s.expect(b + 'attn_v.bias', kvDim, -1)) return false;
    }
    if (!s.expect(b + 'attn_output.weight', qDim, v.dim)) return false; // (dim, dim)
    if (!s.expect(b + 'ffn_norm.weight', v.dim, -1)) return false;
    if (spec.tensors.has(b + 'ffn_bundle')) {
      if (!s.expect(b + 'ffn_bundle', 3 * v.dim, v.hiddenDim)) return false; // (hidden, 3·dim)
    } else {
      if (!s.expect(b + 'ffn_gate.weight', v.dim, v.hiddenDim)) return false; // (hidden, dim)
      if (!s.expect(b + 'ffn_up.weight', v.dim, v.hiddenDim)) return false; // (hidden, dim)
      if (!s.expect(b + 'ffn_down.weight', v.hiddenDim, v.dim)) return false; // (dim, hidden)
    }
  }
  if (!s.expect('output_norm.weight', v.dim, -1)) return false;
  if (!v.tiedEmbeddings && !s.expect('output.weight', v.dim, v.vocabSize)) return false; // (vocab, dim)

  // This runtime keeps sizes in i32 (the TS in f64): refuse what does not fit rather than wrap.
  for (let i = 0; i < names.length; i++) {
    if (values[i] > <f64>i32.MAX_VALUE) return fail('corrupt', where + ': ' + names[i] + ' is ' + numString(values[i]) + ', more than this runtime supports (2^31 - 1)');
  }
  const c = new ModelConfig();
  c.dim = <i32>v.dim;
  c.hiddenDim = <i32>v.hiddenDim;
  c.nLayers = <i32>v.nLayers;
  c.nHeads = <i32>v.nHeads;
  c.nKvHeads = <i32>v.nKvHeads;
  c.headSize = <i32>v.headSize;
  c.vocabSize = <i32>v.vocabSize;
  c.seqLen = <i32>v.seqLen;
  c.ropeDim = <i32>v.ropeDim;
  c.normEps = <f32>v.normEps;
  c.ropeBase = <f32>v.ropeBase;
  c.ropeNeox = v.ropeNeox;
  c.tiedEmbeddings = v.tiedEmbeddings;
  c.qkvBias = v.qkvBias;
  spec.config = c;
  return true;
}
