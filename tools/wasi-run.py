#!/usr/bin/env python3
"""Runs a WASI command with the wasmtime Python package, as `wasmtime run` would (we have no wasmtime CLI):

    python3 tools/wasi-run.py [--dir=D]... FILE.wasm ARGS...

Each --dir=D (or --dir D) preopens directory D read-only with the guest path equal to the host path,
stdout and stderr are inherited, there is no stdin, and the exit status is the command's (proc_exit or
a return from _start = 0). A wasm trap prints `wasm trap: ...` on stderr and exits 134, as the wasmtime
CLI reports an abort.

Batch mode runs many cases with one compiled module (wasmtime compiles eagerly: ~1 s per run otherwise):

    python3 tools/wasi-run.py --batch FILE.wasm < cases.json

cases.json is a list of {"args": [...], "dirs": [...]}; the answer on stdout is a list of
{"code": N, "stdout": "...", "stderr": "..."} in the same order.

Needs `pip install wasmtime` (CI: pip install --no-index --find-links /opt/pypi-more/files wasmtime).
"""
import json
import os
import sys
import tempfile

try:
    import wasmtime
except ImportError:
    sys.stderr.write('wasi-run: the wasmtime Python package is missing; install it with '
                     '`pip install --no-index --find-links /opt/pypi-more/files wasmtime` (or `pip install wasmtime`)\n')
    sys.exit(3)

# Exit status for a trap: 128 + SIGABRT, what the wasmtime CLI's process ends with on a trap.
EXIT_TRAP = 134


def run_once(engine, module, program, args, dirs, stdout_path=None, stderr_path=None):
    """Instantiates `module` in a fresh store and runs _start; returns the exit status."""
    config = wasmtime.WasiConfig()
    config.argv = [program] + list(args)
    for d in dirs:
        config.preopen_dir(d, d, False)
    if stdout_path is None:
        config.inherit_stdout()
    else:
        config.stdout_file = stdout_path
    if stderr_path is None:
        config.inherit_stderr()
    else:
        config.stderr_file = stderr_path
    store = wasmtime.Store(engine)
    store.set_wasi(config)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    try:
        instance = linker.instantiate(store, module)
        instance.exports(store)['_start'](store)
        return 0
    except wasmtime.ExitTrap as e:
        return e.code
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        message = str(e).strip().splitlines()
        line = f'wasm trap: {message[0] if message else type(e).__name__}\n'
        if stderr_path is None:
            sys.stderr.write(line)
        else:
            with open(stderr_path, 'a', encoding='utf-8') as f:
                f.write(line)
        return EXIT_TRAP


def parse_dirs(argv):
    """Splits leading --dir options from FILE.wasm and its arguments."""
    dirs = []
    i = 0
    while i < len(argv) and argv[i].startswith('--dir'):
        if argv[i] == '--dir':
            if i + 1 >= len(argv):
                sys.exit('wasi-run: --dir needs a directory')
            dirs.append(argv[i + 1])
            i += 2
        elif argv[i].startswith('--dir='):
            dirs.append(argv[i][len('--dir='):])
            i += 1
        else:
            break
    return dirs, argv[i:]


def main(argv):
    batch = argv[:1] == ['--batch']
    if batch:
        argv = argv[1:]
    dirs, rest = parse_dirs(argv)
    if not rest:
        sys.exit(__doc__)
    wasm, args = rest[0], rest[1:]
    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, wasm)
    if not batch:
        sys.stdout.flush()
        return run_once(engine, module, wasm, args, dirs)

    cases = json.load(sys.stdin)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        out, err = os.path.join(tmp, 'stdout'), os.path.join(tmp, 'stderr')
        for case in cases:
            code = run_once(engine, module, wasm, case.get('args', []), case.get('dirs', []), out, err)
            with open(out, encoding='utf-8', errors='replace') as f:
                stdout = f.read()
            with open(err, encoding='utf-8', errors='replace') as f:
                stderr = f.read()
            results.append({'code': code, 'stdout': stdout, 'stderr': stderr})
    json.dump(results, sys.stdout)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
