// The runtime's one error channel. AssemblyScript has no exceptions (a `throw` aborts the module), so
// every runtime function that can fail on user input returns a status (false / null / -1) after calling
// fail(), and callers propagate it. Codes are the IfpruneError codes of src/errors.ts ('truncated',
// 'corrupt', 'bad_option', 'context_overflow', 'hash_mismatch', ...); messages say what was expected, what
// was found and what to do, like the TypeScript host's. Hosts read them after a failed call (JS:
// rt_error_code / rt_error_message in assembly/rt/abi.ts; WASI: printed on stderr).
//
// Rule for all of assembly/rt/: bad input must end in fail(), never in a trap (no unchecked array index
// with a file-derived value, no `throw`, no `unreachable`).

export let errCode: string = '';
export let errMessage: string = '';

/** Records an error and returns false, so `return fail('corrupt', '...')` ends a bool function. */
export function fail(code: string, message: string): bool {
  // The first error wins: a caller adding context calls failContext instead.
  if (errCode.length == 0) {
    errCode = code;
    errMessage = message;
  }
  return false;
}

/** Prefixes the current error's message (e.g. with the file name) and returns false. */
export function failContext(prefix: string): bool {
  if (errCode.length > 0 && !errMessage.startsWith(prefix)) errMessage = prefix + errMessage;
  return false;
}

export function failed(): bool {
  return errCode.length > 0;
}

export function clearError(): void {
  errCode = '';
  errMessage = '';
}
