/**
 * Chat prompts: OpenAI `messages` rendered to one prompt string with the model's own
 * `tokenizer.chat_template` (a Jinja template in the GGUF metadata, as Hugging Face stores it in
 * tokenizer_config.json), through @huggingface/jinja — the interpreter transformers.js uses for
 * `apply_chat_template`. Models without a template get FALLBACK_CHAT_TEMPLATE, a plain
 * "User: … / Assistant:" transcript, rendered the same way.
 *
 * The variables a template sees are transformers' (`messages`, `add_generation_prompt`, `bos_token`,
 * `eos_token`, `unk_token`), plus `raise_exception` and `strftime_now` from the interpreter.
 *
 * The rendered prompt is encoded with `special: true` (GenerateOptions.special): the text of the
 * vocabulary's control and user-defined tokens in it (`<|im_start|>`, `<|im_end|>`) becomes those tokens,
 * as llama.cpp's server does; the messages' own text goes through the template too, so a user who types
 * a marker gets it as the token (llama.cpp and transformers' apply_chat_template do the same).
 *
 * A leading `bos_token` is cut from the text and the generation asks for BOS instead
 * (toGenerationPrompt): templates that start with `{{ bos_token }}` get exactly one BOS even when the
 * tokenizer adds one (llama.cpp's server would send two), and the text after it begins the input, so
 * SentencePiece gives it the dummy prefix as Llama 2's reference tokenizer does (`<s>▁[INST]`).
 */
import { Template } from '@huggingface/jinja';
import { IfpruneError } from '../errors.ts';
import type { Model } from '../types.ts';
import { CHAT_TEMPLATE_KEY } from '../convert/metadata.ts';

/** One message after validation: content is text (OpenAI text parts joined). */
export interface ChatMessage {
  role: string;
  content: string;
  /** Other fields of the message (name, ...) as sent: templates may read them. */
  [key: string]: unknown;
}

export { CHAT_TEMPLATE_KEY };

/**
 * For models without a template: system text first, then "User: …" and "Assistant: …" lines, and an
 * open "Assistant:" to continue. FALLBACK_STOP ends the reply where the model starts the next turn.
 */
export const FALLBACK_CHAT_TEMPLATE =
  "{% for m in messages %}{% if m.role == 'system' or m.role == 'developer' %}{{ m.content }}\n\n" +
  "{% elif m.role == 'assistant' %}Assistant: {{ m.content }}\n{% else %}User: {{ m.content }}\n{% endif %}{% endfor %}" +
  '{% if add_generation_prompt %}Assistant:{% endif %}';
export const FALLBACK_STOP = ['\nUser:'];

export interface ChatPrompt {
  /** The rendered template, exactly as Jinja produced it. */
  text: string;
  /** What to generate from, with `special: true`: `text` without a leading bos_token. */
  prompt: string;
  /** true when a leading bos_token was cut (generate with bos: true); undefined: the tokenizer's rule. */
  bos?: boolean;
}

export interface ChatFormatter {
  /** 'model': the model's tokenizer.chat_template; 'option': one given by the caller; 'fallback'. */
  readonly source: 'model' | 'option' | 'fallback';
  /** Stop strings every chat generation adds (the fallback's turn marker; none for model templates). */
  readonly stop: string[];
  render(messages: ChatMessage[], addGenerationPrompt?: boolean): ChatPrompt;
}

/**
 * The chat formatter of a model: `template` (an override) or the model's tokenizer.chat_template, else
 * the fallback. A template @huggingface/jinja cannot parse is a 'bad_option' error now, not at the
 * first request.
 */
export function chatFormatter(model: Model, template?: string): ChatFormatter {
  const own = model.metadata(CHAT_TEMPLATE_KEY);
  const source = template !== undefined ? 'option' : own ? 'model' : 'fallback';
  const text = template ?? own ?? FALLBACK_CHAT_TEMPLATE;
  let compiled: Template;
  try {
    compiled = new Template(text);
  } catch (cause) {
    const where = source === 'model' ? `the model's ${CHAT_TEMPLATE_KEY}` : 'the chat template given';
    throw new IfpruneError('bad_option', `${where} is not a Jinja template @huggingface/jinja can parse (${(cause as Error).message}); pass a working one (ifprune serve --chat-template FILE)`, { cause });
  }
  const piece = (id: number) => (id >= 0 ? (model.metadata('tokenizer.ggml.tokens', id) ?? '') : '');
  const special = {
    bos_token: piece(model.tokenizer.bosId),
    eos_token: piece(model.tokenizer.eosId),
    unk_token: '',
  };
  return {
    source,
    stop: source === 'fallback' ? FALLBACK_STOP : [],
    render(messages, addGenerationPrompt = true) {
      let out: string;
      try {
        out = compiled.render({ messages, add_generation_prompt: addGenerationPrompt, ...special });
      } catch (cause) {
        // raise_exception() in a template ("Conversation roles must alternate ...") lands here too.
        throw new IfpruneError('bad_option', `the chat template rejected these messages: ${(cause as Error).message}`, { cause });
      }
      return toGenerationPrompt(out, special.bos_token);
    },
  };
}

/** Cuts a leading BOS string: the generation adds the BOS token itself. */
export function toGenerationPrompt(text: string, bosToken: string): ChatPrompt {
  if (bosToken && text.startsWith(bosToken)) return { text, prompt: text.slice(bosToken.length), bos: true };
  return { text, prompt: text };
}
