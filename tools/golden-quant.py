#!/usr/bin/env python3
"""Writes test/fixtures/quant-golden.bin: f32 rows and their Q8_0, Q4_0 and F16 encodings computed
with numpy, following gguf-py's quants.py (the Python reimplementation that gguf-py states is
bit-exact with ggml-quants.c): an implementation independent of ours, to check ours byte for byte.

Layout: u32 n (elements, a multiple of 32) | f32 x[n] | Q8_0 bytes (n/32*34) | Q4_0 bytes (n/32*18) | f16 bytes (2n)
Usage: python3 tools/golden-quant.py  (deterministic: seed 1234)
"""
import numpy as np
import struct, pathlib

def np_roundf(n):  # C roundf: half away from zero
    a = np.abs(n)
    floored = np.floor(a)
    b = floored + np.floor(2 * (a - floored))
    return np.sign(n) * b

def q8_0(x):
    blocks = x.reshape(-1, 32)
    d = np.abs(blocks).max(axis=-1, keepdims=True) / np.float32(127)
    with np.errstate(divide="ignore"):
        id = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    qs = np_roundf(blocks * id).astype(np.int8)
    return np.concatenate([d.astype(np.float16).view(np.uint8), qs.view(np.uint8)], axis=-1).tobytes()

def q4_0(x):
    blocks = x.reshape(-1, 32)
    imax = np.abs(blocks).argmax(axis=-1, keepdims=True)
    mx = np.take_along_axis(blocks, imax, axis=-1)
    d = (mx / np.float32(-8)).astype(np.float32)
    with np.errstate(divide="ignore"):
        id = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)
    # ggml rounds fma(x, id, 8.5) once to f32 (see gguf-py's note on Q4_0)
    qs = np.trunc((blocks.astype(np.float64) * id.astype(np.float64) + 8.5).astype(np.float32)).astype(np.uint8).clip(0, 15)
    packed = (qs[:, :16] | (qs[:, 16:] << 4)).astype(np.uint8)
    return np.concatenate([d.astype(np.float16).view(np.uint8), packed], axis=-1).tobytes()

rng = np.random.default_rng(1234)
parts = [
    rng.standard_normal(32 * 200).astype(np.float32),                      # ordinary
    (rng.standard_normal(32 * 50) * 1e-6).astype(np.float32),              # tiny: f16 scale subnormal
    (rng.standard_normal(32 * 50) * 1e4).astype(np.float32),               # large
    np.zeros(32, np.float32),                                              # all zero: d = 0
    np.round(rng.standard_normal(32 * 50) * 8).astype(np.float32) / 8,    # many exact halves
    (rng.integers(-127, 128, 32 * 50) / 127 * 3.0).astype(np.float32),     # exact grid points
    np.tile(np.float32([0.5, -0.5, 1.5, -2.5, 0.49999997, -0.49999997, 127, -127]), 4 * 10),
]
x = np.concatenate(parts).astype(np.float32)
assert x.size % 32 == 0
out = struct.pack("<I", x.size) + x.tobytes() + q8_0(x) + q4_0(x) + x.astype(np.float16).tobytes()
path = pathlib.Path(__file__).resolve().parent.parent / "test" / "fixtures" / "quant-golden.bin"
path.write_bytes(out)
print(f"wrote {path} ({len(out)} bytes, {x.size} values)")
