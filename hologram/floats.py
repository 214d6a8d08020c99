"""Bit-level float helpers shared by the assembler, the disassembler, the backend and the
reference interpreter.

f16 and bf16 values live in registers as 16-bit patterns (ISA.md §2). Arithmetic on them widens
exactly to f32, evaluates in f32 and rounds back with :func:`round_f16` / :func:`round_bf16`.
The rounding functions are written out bit by bit (not via a library cast) so that the Cython VM
can implement exactly the same rules, NaN patterns included.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from .operands import DType

__all__ = ["f32_bits", "f32_from_bits", "f64_bits", "f64_from_bits", "round_f16", "round_bf16",
           "widen_f16", "widen_bf16", "float_to_bits", "bits_to_float", "CANONICAL_NAN"]


def f32_bits(x: float) -> int:
    """Bit pattern of the f32 nearest to ``x`` (RNE, overflow to ±inf)."""
    with np.errstate(over="ignore"):
        return int(np.float32(x).view(np.uint32))


def f32_from_bits(bits: int) -> float:
    """The f32 with pattern ``bits`` as a Python float (exact)."""
    return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]


def f64_bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def f64_from_bits(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits & 0xFFFFFFFFFFFFFFFF))[0]


def round_f16(x: int) -> int:
    """f32 bit pattern -> IEEE binary16 pattern: RNE, gradual underflow, overflow to ±inf,
    NaN -> quiet NaN keeping the sign and the top payload bits."""
    sign = (x >> 16) & 0x8000
    exp = (x >> 23) & 0xFF
    man = x & 0x7FFFFF
    if exp == 0xFF:
        return sign | 0x7C00 | ((0x200 | (man >> 13)) if man else 0)
    e = exp - 127 + 15
    if e >= 0x1F:
        return sign | 0x7C00
    if e <= 0:
        if e < -10:
            return sign                      # below half the smallest subnormal: ±0
        man |= 0x800000
        shift = 14 - e                       # 1 - e subnormal shift plus the 13 dropped bits
        half = 1 << (shift - 1)
        rest = man & ((1 << shift) - 1)
        out = man >> shift
        if rest > half or (rest == half and out & 1):
            out += 1
        return sign | out
    out = (e << 10) | (man >> 13)
    rest = man & 0x1FFF
    if rest > 0x1000 or (rest == 0x1000 and out & 1):
        out += 1                             # may carry into the exponent: up to inf, correct
    return sign | out


def round_bf16(x: int) -> int:
    """f32 bit pattern -> bfloat16 pattern (ISA.md §2)."""
    x &= 0xFFFFFFFF
    if (x & 0x7F800000) == 0x7F800000 and (x & 0x7FFFFF):
        return (x >> 16) | 0x0040
    return ((x + 0x7FFF + ((x >> 16) & 1)) >> 16) & 0xFFFF


def widen_f16(h: int) -> int:
    """binary16 pattern -> the f32 pattern of the same value (exact)."""
    sign = (h & 0x8000) << 16
    exp = (h >> 10) & 0x1F
    man = h & 0x3FF
    if exp == 0x1F:
        return sign | 0x7F800000 | (man << 13)
    if exp == 0:
        if man == 0:
            return sign
        e = 127 - 15 + 1
        while not man & 0x400:               # normalise the subnormal
            man <<= 1
            e -= 1
        return sign | (e << 23) | ((man & 0x3FF) << 13)
    return sign | ((exp - 15 + 127) << 23) | (man << 13)


def widen_bf16(h: int) -> int:
    """bfloat16 pattern -> f32 pattern (exact)."""
    return (h & 0xFFFF) << 16


# The quiet NaN each float type's literal `nan` stands for (ISA.md §8.3).
CANONICAL_NAN = {DType.F16: 0x7E00, DType.BF16: 0x7FC0, DType.F32: 0x7FC00000,
                 DType.F64: 0x7FF8000000000000}


def float_to_bits(ty: DType, x: float) -> int:
    """``cvt.T.f64`` of the f64 ``x``: the bit pattern of type ``ty`` it rounds to."""
    if math.isnan(x):
        return CANONICAL_NAN[ty] | (1 << (ty.bits - 1) if math.copysign(1.0, x) < 0 else 0)
    if ty == DType.F64:
        return f64_bits(x)
    b32 = f32_bits(x)
    if ty == DType.F32:
        return b32
    return round_f16(b32) if ty == DType.F16 else round_bf16(b32)


def bits_to_float(ty: DType, bits: int) -> float:
    """The value of a float bit pattern, exactly, as a Python float."""
    if ty == DType.F64:
        return f64_from_bits(bits)
    if ty == DType.F16:
        bits = widen_f16(bits)
    elif ty == DType.BF16:
        bits = widen_bf16(bits)
    return f32_from_bits(bits)
