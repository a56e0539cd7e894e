/**
 * GGML tensor types ifprune understands, declared once as data (see gguf-py GGML_QUANT_SIZES and
 * ggml-common.h). Block layouts:
 *   F32   1 element,  4 bytes
 *   F16   1 element,  2 bytes (IEEE half)
 *   BF16  1 element,  2 bytes (upper half of an f32)
 *   Q4_0  32 elements, 2 (fp16 scale d) + 16 (32 x 4-bit q, element i in the low nibble of byte i,
 *         element i+16 in the high nibble; value = d * (q - 8))
 *   Q8_0  32 elements, 2 (fp16 scale d) + 32 (int8 q; value = d * q)
 * The AssemblyScript constants in assembly/quant.ts are checked against this table by a test.
 */
import { IfpruneError } from '../errors.ts';

export interface QuantType {
  readonly name: string;
  /** GGML type id as written in GGUF tensor infos. */
  readonly id: number;
  readonly blockElems: number;
  readonly blockBytes: number;
}

export const QUANT = {
  F32: { name: 'F32', id: 0, blockElems: 1, blockBytes: 4 },
  F16: { name: 'F16', id: 1, blockElems: 1, blockBytes: 2 },
  Q4_0: { name: 'Q4_0', id: 2, blockElems: 32, blockBytes: 2 + 16 },
  Q8_0: { name: 'Q8_0', id: 8, blockElems: 32, blockBytes: 2 + 32 },
  BF16: { name: 'BF16', id: 30, blockElems: 1, blockBytes: 2 },
} as const satisfies Record<string, QuantType>;

export type QuantName = keyof typeof QUANT;

/** Names of GGML types we do not implement, so a refusal can say what the file holds. */
const GGML_TYPE_NAMES: Record<number, string> = {
  3: 'Q4_1', 6: 'Q5_0', 7: 'Q5_1', 9: 'Q8_1', 10: 'Q2_K', 11: 'Q3_K', 12: 'Q4_K', 13: 'Q5_K', 14: 'Q6_K',
  15: 'Q8_K', 16: 'IQ2_XXS', 17: 'IQ2_XS', 18: 'IQ3_XXS', 19: 'IQ1_S', 20: 'IQ4_NL', 21: 'IQ3_S', 22: 'IQ2_S',
  23: 'IQ4_XS', 24: 'I8', 25: 'I16', 26: 'I32', 27: 'I64', 28: 'F64', 29: 'IQ1_M', 34: 'TQ1_0', 35: 'TQ2_0',
  39: 'MXFP4',
};

export function quantById(id: number, what = 'tensor'): QuantType {
  for (const q of Object.values(QUANT)) if (q.id === id) return q;
  const name = GGML_TYPE_NAMES[id] ?? `unknown type id ${id}`;
  throw new IfpruneError(
    'unsupported',
    `${what} has GGML type ${name}; ifprune reads F32, F16, BF16, Q8_0 and Q4_0. ` +
      `Re-quantize the model to one of these (e.g. llama.cpp's llama-quantize ... Q8_0) or convert it from the F16 original.`,
  );
}

export function quantByName(name: string): QuantType {
  const q = (QUANT as Record<string, QuantType>)[name.toUpperCase()];
  if (!q) throw new IfpruneError('bad_option', `unknown tensor type "${name}"; expected one of ${Object.keys(QUANT).join(', ')}`);
  return q;
}

/** Bytes of a row of `n` elements; `n` must be a whole number of blocks. */
export function rowBytes(q: QuantType, n: number): number {
  if (n % q.blockElems !== 0) {
    throw new IfpruneError('bad_option', `a ${q.name} row holds whole blocks of ${q.blockElems} elements; got ${n} elements`);
  }
  return (n / q.blockElems) * q.blockBytes;
}
