/**
 * The one error class of ifprune. Every failure a user can cause (a bad file, a bad option, a server
 * that ignores Range, a prompt that does not fit) is an IfpruneError with a stable `code` and a message
 * that says what was expected, what was found and what to do.
 */
export type IfpruneErrorCode =
  | 'bad_magic' // not the file format we were told (or guessed)
  | 'bad_version' // a format version this ifprune cannot read
  | 'truncated' // the file ends before a declared structure does
  | 'corrupt' // structurally inconsistent input (counts that cannot fit, overlapping tensors, ...)
  | 'unsupported' // a valid file using a feature ifprune does not implement (a tensor type, an architecture)
  | 'hash_mismatch' // bytes that do not match their recorded hash
  | 'range_unsupported' // an HTTP server that ignored a Range request
  | 'http_error' // an HTTP failure after retries
  | 'context_overflow' // a prompt (plus generation) longer than the model's context
  | 'bad_option' // an invalid option value or combination
  | 'out_of_bounds' // a kernel call whose operands do not lie inside wasm memory
  | 'out_of_memory' // wasm memory could not grow to what was asked, or the budget is exceeded
  | 'no_wasm' // the runtime lacks WebAssembly (or the module could not be compiled)
  | 'not_found' // a file or a named entry that does not exist
  | 'numeric' // the model produced NaN or infinite values (damaged weights, or an unsupported variant)
  | 'timeout' // a deadline passed: a request's timeoutMs, or a server that stopped answering
  | 'aborted'; // the caller's AbortSignal fired

export class IfpruneError extends Error {
  readonly code: IfpruneErrorCode;
  constructor(code: IfpruneErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IfpruneError';
    this.code = code;
  }
}

export function isIfpruneError(e: unknown, code?: IfpruneErrorCode): e is IfpruneError {
  return e instanceof IfpruneError && (code === undefined || e.code === code);
}
