/**
 * The one consistency check every format reader runs on the ModelSpec it built (gguf.ts, llama2c.ts,
 * safetensors.ts): the config adds up, and every tensor the forward pass reads exists with the shape
 * the config implies. Shapes are GGUF dims, ne0 (the input width, contiguous) first.
 */
import { IfpruneError } from '../errors.ts';
import type { ModelConfig, ModelSpec } from './model-spec.ts';

/**
 * Every tensor a Llama-family forward pass reads, with its GGUF dims, for this config. `bundled(l)`
 * says whether layer l stores its FFN as one ifprune `blk.l.ffn_bundle` (n_ff rows of
 * [gate_j | up_j | down column j], docs/format.md) instead of ffn_gate / ffn_up / ffn_down.
 */
export function expectedTensorShapes(c: ModelConfig, bundled: (layer: number) => boolean = () => false): Map<string, number[]> {
  return new Map(tensorShapes(c, bundled));
}

/** expectedTensorShapes one tensor at a time, in file order: checkModelSpec stops at the first problem,
 * so a block_count of 2^31 costs one missing layer, not 2^31 of them. */
function* tensorShapes(c: ModelConfig, bundled: (layer: number) => boolean): Generator<[string, number[]]> {
  const kvDim = c.nKvHeads * c.headSize;
  const qDim = c.nHeads * c.headSize;
  yield ['token_embd.weight', [c.dim, c.vocabSize]]; // (vocab, dim)
  for (let l = 0; l < c.nLayers; l++) {
    const b = `blk.${l}.`;
    yield [b + 'attn_norm.weight', [c.dim]];
    yield [b + 'attn_q.weight', [c.dim, qDim]]; // (dim, dim)
    yield [b + 'attn_k.weight', [c.dim, kvDim]]; // (kvDim, dim)
    yield [b + 'attn_v.weight', [c.dim, kvDim]]; // (kvDim, dim)
    if (c.qkvBias) {
      yield [b + 'attn_q.bias', [qDim]];
      yield [b + 'attn_k.bias', [kvDim]];
      yield [b + 'attn_v.bias', [kvDim]];
    }
    yield [b + 'attn_output.weight', [qDim, c.dim]]; // (dim, dim)
    yield [b + 'ffn_norm.weight', [c.dim]];
    if (bundled(l)) {
      yield [b + 'ffn_bundle', [3 * c.dim, c.hiddenDim]]; // (hidden, 3·dim)
    } else {
      yield [b + 'ffn_gate.weight', [c.dim, c.hiddenDim]]; // (hidden, dim)
      yield [b + 'ffn_up.weight', [c.dim, c.hiddenDim]]; // (hidden, dim)
      yield [b + 'ffn_down.weight', [c.hiddenDim, c.dim]]; // (dim, hidden)
    }
  }
  yield ['output_norm.weight', [c.dim]];
  if (!c.tiedEmbeddings) yield ['output.weight', [c.dim, c.vocabSize]]; // (vocab, dim)
}

/**
 * Throws IfpruneError('corrupt') naming the first problem. `nameInFile` maps a GGUF tensor name to the
 * name the file uses (safetensors' model.layers.0.self_attn.q_proj.weight), for the message.
 */
export function checkModelSpec(spec: ModelSpec, nameInFile: (ggufName: string) => string = (n) => n): void {
  const c = spec.config;
  const where = `${spec.format} model ${spec.source.name}`;
  const bad = (msg: string) => new IfpruneError('corrupt', `${where}: ${msg}`);
  for (const k of ['dim', 'hiddenDim', 'nLayers', 'nHeads', 'nKvHeads', 'headSize', 'vocabSize', 'seqLen', 'ropeDim'] as const) {
    if (!Number.isSafeInteger(c[k]) || c[k] <= 0) throw bad(`${k} is ${c[k]}; it must be a positive integer`);
  }
  if (c.nHeads * c.headSize !== c.dim) throw bad(`dim ${c.dim} is not nHeads ${c.nHeads} x headSize ${c.headSize}`);
  if (c.nHeads % c.nKvHeads !== 0) throw bad(`nHeads ${c.nHeads} is not a multiple of nKvHeads ${c.nKvHeads}`);
  if (c.ropeDim % 2 !== 0 || c.ropeDim > c.headSize) throw bad(`rope dimension ${c.ropeDim} must be even and at most headSize ${c.headSize}`);
  if (!(c.normEps > 0 && c.normEps < 1)) throw bad(`RMSNorm epsilon ${c.normEps} is not in (0, 1)`);
  if (!(c.ropeBase > 1 && Number.isFinite(c.ropeBase))) throw bad(`RoPE base ${c.ropeBase} must be a finite number > 1`);

  for (const [name, dims] of tensorShapes(c, (l) => spec.tensors.has(`blk.${l}.ffn_bundle`))) {
    const t = spec.tensors.get(name);
    if (!t) throw bad(`tensor ${nameInFile(name)} is missing (expected shape [${dims}], ne0 first)`);
    if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
      throw bad(
        `tensor ${nameInFile(name)} has shape [${t.dims}], expected [${dims}] (ne0 first) for dim ${c.dim}, ` +
          `hiddenDim ${c.hiddenDim}, ${c.nHeads} heads, ${c.nKvHeads} kv heads, vocab ${c.vocabSize}`,
      );
    }
  }
}
