// Recognise a model file by its first bytes and map its header to a ModelSpec, sans I/O (TS oracle
// src/formats/model.ts openModel):
//
//   GGUF          bytes 0..3 = "GGUF"                                               gguf.ts
//   safetensors   uint64 header length that fits the file, then "{"                 refused ('unsupported')
//   llama2.c      "ak42" magic (versions 1/2: recognised, then refused), or a       llama2c.ts
//                 plausible 7 x int32 version 0 header (positive, consistent, sane sizes)
//
// The host passes the first `len` bytes of the file. When they end before the header does, the parse
// returns null without failing and headerNeed says how many bytes (from the start of the file) the
// item it stopped in needs; the host reads at least that many and calls again. A GGUF's header is
// read front to back, so a host that grows its window to max(headerNeed, 2 × len) converges in
// O(log header) calls; one that reads exactly headerNeed converges too, an item at a time.
import { ModelSpec } from './spec';
import { fail, failed } from './error';
import { Reader, describeBytes } from './reader';
import { GGUF_MAGIC, parseGGUF, ggufToModelSpec } from './gguf';
import { llama2cIsExport, whyNotLlama2c, parseLlama2c } from './llama2c';

/** Enough bytes for every format's signature. */
export const SNIFF_BYTES: u64 = 64;
/** Largest safetensors JSON header ifprune accepts (src/formats/safetensors.ts). */
const SAFETENSORS_MAX_HEADER_BYTES: u64 = 100000000;

/** Bytes the header parse needs in all when parseModelHeader returned null WITHOUT failing (the buffer
 * ended before the header did, and the file is longer): the exact end of the item being parsed. */
export let headerNeed: u64 = 0;

/** Why the first n bytes of a fileSize-byte file are not a safetensors header, or ''. */
function whyNotSafetensors(head: usize, n: usize, fileSize: u64): string {
  if (n < 9) return 'shorter than the 8-byte header length and a JSON header';
  const len = load<u64>(head);
  const fits = fileSize < 8 ? 0 : min<u64>(SAFETENSORS_MAX_HEADER_BYTES, fileSize - 8);
  if (len < 2 || len > fits) return 'header length ' + len.toString() + ' does not fit the file';
  if (load<u8>(head, 8) != 0x7b) return 'the JSON header does not start with "{"';
  return '';
}

/**
 * Parses the model header from the first `len` bytes of the file (at wasm address buf): detects GGUF (v2,
 * v3) or llama2.c (legacy 28-byte header and the versioned export, as src/formats/llama2c.ts does) and
 * returns a ModelSpec with config, tensor table (absolute offsets), tokenizer (GGUF), metadata (GGUF
 * key/values in file order, as MetaValue, for inspect), version/alignment/dataOffset/headerBytes; runs the
 * same shape checks as checkModelSpec. Returns null and sets headerNeed (no fail) when more bytes are
 * needed; null with fail() on bad input ('bad_magic', 'bad_version', 'truncated', 'corrupt', 'unsupported').
 * fileName is for messages.
 */
export function parseModelHeader(buf: usize, len: usize, fileSize: u64, fileName: string): ModelSpec | null {
  headerNeed = 0;
  const have = min<u64>(<u64>len, fileSize);
  const sniff = min<u64>(fileSize, SNIFF_BYTES);
  if (have < sniff) {
    headerNeed = sniff;
    return null;
  }
  const n = <usize>sniff;
  if (n >= 4 && load<u32>(buf) == GGUF_MAGIC) {
    const r = new Reader(buf, have, fileSize, fileName);
    const spec = new ModelSpec();
    if (!parseGGUF(r, spec)) {
      if (r.short && !failed()) headerNeed = r.needEnd;
      return null;
    }
    return ggufToModelSpec(spec, fileName) ? spec : null;
  }
  const notSafetensors = whyNotSafetensors(buf, n, fileSize);
  if (notSafetensors.length == 0) {
    fail('unsupported', fileName + ' is a safetensors checkpoint, which this runtime does not read; convert it to GGUF (ifprune convert with its config.json)');
    return null;
  }
  if (llama2cIsExport(buf, n)) return parseLlama2c(buf, n, fileSize, fileName);
  const notLlama2c = whyNotLlama2c(buf, n);
  if (notLlama2c.length == 0) return parseLlama2c(buf, n, fileSize, fileName);
  fail('bad_magic', fileName + ' is not a model file ifprune recognises; it starts with ' + describeBytes(buf, min<usize>(n, 8)) + '. Tried: ' +
    'GGUF (no "GGUF" magic); safetensors (' + notSafetensors + '); llama2.c version 0 (' + notLlama2c + '). ' +
    'Check the path or URL: an HTML error page or a Git LFS pointer file also ends up here.');
  return null;
}

// llama2.c tokenizer.bin (whole file in memory) → TokenizerData, as the TS parseTokenizerBin:
// parseTokenizerBin(buf, len, expectedVocab, fileName), expectedVocab 0 reading tokens to the end.
export { parseTokenizerBin } from './tokenizer-bin';
