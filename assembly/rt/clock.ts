// Milliseconds from a monotonic clock, for stats. The WASI build reads WASI's clock (the shim's
// performance.now); JS hosts pass theirs in as the import env.now (performance.now()).

// @ts-ignore: decorator
@external('env', 'now')
declare function hostNow(): f64;

export function now(): f64 {
  if (isDefined(ASC_WASI)) return performance.now();
  return hostNow();
}
