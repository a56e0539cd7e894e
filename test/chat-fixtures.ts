/**
 * Chat-template fixtures shared by test/server.test.ts and test/convert.test.ts: stories260K.gguf with a
 * tokenizer.chat_template key added (written with src/formats/gguf-write.ts, tensors unchanged).
 */
import { readFileSync } from 'node:fs';
import { memorySource } from '../src/sources/memory.ts';
import { GGUFValueType, parseGGUF } from '../src/formats/gguf.ts';
import { writeGGUF } from '../src/formats/gguf-write.ts';
import { CHAT_TEMPLATE_KEY } from '../src/convert/metadata.ts';

export const STORIES_GGUF = new Uint8Array(readFileSync(new URL('../models/stories260K/stories260K.gguf', import.meta.url)));

/**
 * A template in the usual Hugging Face shape: BOS first, a system line, alternating turns (it raises on
 * anything else), EOS after assistant turns, and an open assistant turn when asked.
 */
export const SAMPLE_CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}[SYS] {{ m.content }}\n" +
  "{% elif m.role == 'user' %}Q: {{ m.content | trim }}\n{% elif m.role == 'assistant' %}A: {{ m.content }}{{ eos_token }}\n" +
  "{% else %}{{ raise_exception('role ' + m.role + ' is not supported') }}{% endif %}{% endfor %}" +
  '{% if add_generation_prompt %}A:{% endif %}';

/** A GGUF file's bytes with tokenizer.chat_template set to `template`. */
export async function withChatTemplate(bytes: Uint8Array, template: string): Promise<Uint8Array> {
  const f = await parseGGUF(memorySource(bytes, 'in.gguf'));
  return writeGGUF(
    { metadata: { ...f.metadata, [CHAT_TEMPLATE_KEY]: template }, kvTypes: { ...f.kvTypes, [CHAT_TEMPLATE_KEY]: { type: GGUFValueType.STRING } } },
    f.tensors.map((t) => ({ name: t.name, type: t.type, dims: t.dims, data: bytes.subarray(t.offset, t.offset + t.bytes) })),
    f.alignment,
  );
}
