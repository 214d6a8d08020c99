"""Pure-Python reference interpreter of the Atlas ISA: the oracle the Cython VM is tested against.

Obviously correct rather than fast. It runs one lane at a time and implements ISA.md exactly:

* Blocks run in ascending linear index (§7.2). Inside a block, lane 0 runs until it ends or
  waits at a barrier or a warp collective, then lane 1, ...; when no lane runs, the warps with
  lanes waiting at a collective are resolved first (§12.4), then the barrier (§6.3). After a
  block that contained a fault the launch stops (§7.6 allows skipping later blocks) and reports
  the fault of the lowest global lane.
* Registers hold ``None`` or ``(DType, value)``: integers as Python ints in the type's range,
  floats as their bit pattern. Predicates hold None/True/False.
* Operands are read in field order as the table in :mod:`hologram.isa` lists them; the first
  failed read faults, and a faulting instruction has no effect (every check happens before the
  first write).
* Floats: f32 results are rounded to f32 after every operation; f16/bf16 are widened to f32,
  evaluated as f32 and rounded once with :mod:`hologram.floats`. Transcendentals call the C
  math library through ctypes, as the VM does, so both agree bit for bit. If the C library
  cannot be loaded, Python's :mod:`math` functions rounded to the type are used instead (still
  within the tolerance of §5.6, but not necessarily bit-identical to the VM).

Entry point: :func:`run`, behind :class:`ReferenceEngine` (a backend's ``engine="reference"``),
which also counts the instructions each kernel executes (:class:`StepCount`, the steps of §7.7).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import numpy as np

from . import atlas, faults
from .faults import Fault
from .floats import (f32_bits, f32_from_bits, f64_bits, f64_from_bits, round_bf16, round_f16,
                     widen_bf16, widen_f16)
from .isa import (CALL_DEPTH, COLLECTIVES, GADDR, OPTPRED, PRED, SADDR, SPECS, WARP_SIZE, AtomOp,
                  BufferOffset, Cond, DType, Imm, Instruction, PhiCoordinate, RegisterIndirect,
                  RegisterIndirectComputed, ShflMode, SReg, VoteMode)
from .launch import Launch, byte_view

__all__ = ["run", "ReferenceEngine", "StepCount"]

CLASS_HANDLE_BASE = atlas.CLASS_HANDLE_BASE      # handle of class c's window: base + c (§4.3)
U64_MASK = 2**64 - 1

# Lane states (§6.3; WARP: waiting at a warp collective, §12.4)
RUNNING, WAITING, DONE, FAULTED, WARP = range(5)


@dataclass
class StepCount:
    """Instructions executed by the launches of one kernel, counted as the steps of §7.7 (every
    instruction a lane starts, a faulting one and a warp collective included, each once).
    Only blocks that ran to their end are counted (a launch stops after a faulting block)."""

    launches: int = 0
    lanes: int = 0       #: lanes of the counted blocks
    steps: int = 0       #: instructions executed, summed over those lanes
    max_lane: int = 0    #: most instructions executed by one lane in one launch
    instructions: int = 0  #: length of the program (of the last launch counted)

    @property
    def per_lane(self) -> float:
        """Mean instructions executed per lane (0.0 before any lane ran)."""
        return self.steps / self.lanes if self.lanes else 0.0


class _TimedOut(Exception):
    """The launch's ``timeout`` ran out (checked every _TICK instructions and every block)."""


_TICK = 4096


class _Fault(Exception):
    """Raised inside an instruction; the lane loop turns it into a :class:`faults.Fault`."""

    def __init__(self, code: int, *detail: int):
        super().__init__(code, detail)
        self.code = code
        self.detail = tuple(detail)


# ============================================================================================
# Integers

def _wrap(ty: DType, x: int) -> int:
    """x modulo 2^w, as the type's value (two's complement for signed types)."""
    w = ty.bits
    x &= (1 << w) - 1
    if ty.is_signed and x >> (w - 1):
        x -= 1 << w
    return x


def _int_range(ty: DType) -> Tuple[int, int]:
    w = ty.bits
    return (-(1 << (w - 1)), (1 << (w - 1)) - 1) if ty.is_signed else (0, (1 << w) - 1)


def _tdiv(a: int, b: int) -> int:
    """Quotient truncated toward zero (C semantics; Python's // floors)."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _int_div(ty: DType, a: int, b: int) -> int:
    if b == 0:
        raise _Fault(faults.DIV_ZERO)
    return _wrap(ty, _tdiv(a, b))          # signed MIN / -1 wraps to MIN


def _int_rem(ty: DType, a: int, b: int) -> int:
    if b == 0:
        raise _Fault(faults.DIV_ZERO)
    return _wrap(ty, a - b * _tdiv(a, b))  # sign of the dividend; MIN rem -1 = 0


_INT_BINOPS: Dict[str, Callable[[DType, int, int], int]] = {
    "ADD": lambda ty, a, b: _wrap(ty, a + b),
    "SUB": lambda ty, a, b: _wrap(ty, a - b),
    "MUL": lambda ty, a, b: _wrap(ty, a * b),
    "DIV": _int_div,
    "REM": _int_rem,
    "MIN": lambda ty, a, b: min(a, b),
    "MAX": lambda ty, a, b: max(a, b),
    "AND": lambda ty, a, b: _wrap(ty, a & b),   # Python's & | ^ ~ act on two's complement
    "OR": lambda ty, a, b: _wrap(ty, a | b),
    "XOR": lambda ty, a, b: _wrap(ty, a ^ b),
}

# ============================================================================================
# Floats
#
# A float register holds the bit pattern of its type. Operations work in the *compute type*:
# f64 for F64, f32 for the others (f16/bf16 widen exactly to f32, §2). Compute-type values are
# Python floats that are exactly representable in the compute type; ``_rnd`` rounds a Python
# float to it (f32 add/sub/mul/div/sqrt computed in f64 then rounded once are correctly rounded,
# since 53 >= 2·24 + 2).

_SIGN = {DType.F16: 1 << 15, DType.BF16: 1 << 15, DType.F32: 1 << 31, DType.F64: 1 << 63}


def _widen(ty: DType, bits: int) -> int:
    """Type pattern -> compute-type pattern (exact)."""
    if ty == DType.F16:
        return widen_f16(bits)
    if ty == DType.BF16:
        return widen_bf16(bits)
    return bits


def _narrow(ty: DType, cbits: int) -> int:
    """Compute-type pattern -> type pattern: the final rounding of f16/bf16 results."""
    if ty == DType.F16:
        return round_f16(cbits)
    if ty == DType.BF16:
        return round_bf16(cbits)
    return cbits


def _cval(is64: bool, cbits: int) -> float:
    return f64_from_bits(cbits) if is64 else f32_from_bits(cbits)


def _cbits(is64: bool, x: float) -> int:
    return f64_bits(x) if is64 else f32_bits(x)


def _rnd(is64: bool, x: float) -> float:
    """Round a Python float to the compute type (identity for f64)."""
    return x if is64 else f32_from_bits(f32_bits(x))


def _value(ty: DType, bits: int) -> float:
    """The exact value of a float register (f16/bf16 via f32)."""
    return _cval(ty == DType.F64, _widen(ty, bits))


def _encode(ty: DType, x: float) -> int:
    """A compute-type value -> the type's pattern (rounding f16/bf16 once)."""
    is64 = ty == DType.F64
    return _narrow(ty, _cbits(is64, x))


def _fdiv(x: float, y: float) -> float:
    """IEEE division (Python raises on /0)."""
    try:
        return x / y
    except ZeroDivisionError:
        if math.isnan(x) or x == 0.0:
            return math.nan
        return math.copysign(math.inf, x) * math.copysign(1.0, y)


def _signbit(x: float) -> bool:
    return math.copysign(1.0, x) < 0


def _fmin_bits(is64: bool, a: int, b: int) -> int:
    """min on compute-type patterns: returns one operand's pattern (§5.2; -0 < +0)."""
    x, y = _cval(is64, a), _cval(is64, b)
    if math.isnan(x):
        return b
    if math.isnan(y):
        return a
    if x < y:
        return a
    if y < x:
        return b
    return a if _signbit(x) else b


def _fmax_bits(is64: bool, a: int, b: int) -> int:
    x, y = _cval(is64, a), _cval(is64, b)
    if math.isnan(x):
        return b
    if math.isnan(y):
        return a
    if x > y:
        return a
    if y > x:
        return b
    return b if _signbit(x) else a


# ---- exact rounding of rationals (FMA, int -> f32)

_FORMATS = {False: (24, -126, 127), True: (53, -1022, 1023)}   # precision, emin, emax


def _round_exact(q: Fraction, is64: bool) -> float:
    """Round the exact rational q to f32/f64 (RNE, gradual underflow, overflow to ±inf).

    A zero q returns +0.0: callers decide the sign of an exact zero.
    """
    if q == 0:
        return 0.0
    p, emin, emax = _FORMATS[is64]
    neg = q < 0
    a = -q if neg else q
    n, d = a.numerator, a.denominator
    e = n.bit_length() - d.bit_length()          # floor(log2 a) is e or e - 1
    if (n << max(-e, 0)) < (d << max(e, 0)):
        e -= 1
    qe = max(e, emin) - (p - 1)                  # exponent of the last significand bit
    scaled = a / Fraction(2) ** qe
    m = scaled.numerator // scaled.denominator
    rest = scaled - m
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and m & 1):
        m += 1
    if m and qe + m.bit_length() - 1 > emax:
        return -math.inf if neg else math.inf
    return math.copysign(math.ldexp(float(m), qe), -1.0 if neg else 1.0)


def _fma(is64: bool, a: float, b: float, c: float) -> float:
    """a·b + c with a single rounding to the compute type (C fma/fmaf)."""
    if math.isnan(a) or math.isnan(b) or math.isnan(c):
        return math.nan
    if math.isinf(a) or math.isinf(b):
        return a * b + c          # ±inf or NaN (inf·0, inf - inf), as the exact rules say
    if math.isinf(c):
        return c                  # a·b is finite (even if it would overflow when rounded)
    q = Fraction(a) * Fraction(b) + Fraction(c)
    if q == 0:
        # Exact zero: -0 only if a·b and c are both zero and both negative (IEEE 754 §6.3).
        prod_neg = _signbit(a) != _signbit(b)
        if (a == 0 or b == 0) and c == 0 and prod_neg and _signbit(c):
            return -0.0
        return 0.0
    return _round_exact(q, is64)


def _int_to_float(is64: bool, v: int) -> float:
    """An integer's exact value rounded once (RNE) to f32/f64."""
    return float(v) if is64 else _round_exact(Fraction(v), False)   # int.__float__ is RNE


# ---- transcendentals through the C math library (§5.6)

def _load_libm() -> Optional[Dict[Tuple[str, bool], Callable[..., float]]]:
    """{(name, is64): C function} from the platform's math library, or None."""
    candidates: List[Optional[str]] = []
    if sys.platform == "win32":
        candidates += ["ucrtbase", "msvcrt"]
    else:
        found = ctypes.util.find_library("m")
        if found:
            candidates.append(found)
        candidates.append(None)                  # symbols already loaded into the process
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            table = {}
            for fn in _LIBM_FUNCS:
                for is64, ct in ((False, ctypes.c_float), (True, ctypes.c_double)):
                    f = getattr(lib, fn if is64 else fn + "f")
                    f.argtypes = [ct, ct] if fn == "pow" else [ct]
                    f.restype = ct
                    table[(fn, is64)] = f
            return table
        except (OSError, AttributeError, TypeError):
            continue
    return None


def _py_pow(x: float, y: float) -> float:
    """C99 pow from math.pow, which raises where C returns ±inf or NaN."""
    try:
        return math.pow(x, y)
    except (ValueError, OverflowError):
        odd = math.isfinite(y) and y == math.floor(y) and math.fmod(y, 2.0) != 0
        if x == 0:                                   # pow(±0, y < 0): pole
            return math.copysign(math.inf, x) if odd else math.inf
        if x < 0 and not (math.isfinite(y) and y == math.floor(y)):
            return math.nan                          # negative base, non-integer exponent
        return -math.inf if x < 0 and odd else math.inf


def _py_log(fn: Callable[[float], float]) -> Callable[[float], float]:
    def f(x: float) -> float:
        if x == 0:
            return -math.inf
        if math.isnan(x) or x < 0:
            return math.nan
        return fn(x)
    return f


def _py_unary(fn: Callable[[float], float]) -> Callable[[float], float]:
    def f(x: float) -> float:
        try:
            return fn(x)
        except ValueError:
            return math.nan
        except OverflowError:
            return math.inf
    return f


# The C library functions the interpreter calls ("exp": expf for f32, exp for f64), each with
# the Python fallback used if the library cannot be loaded.
_LIBM_FUNCS: Dict[str, Callable[..., float]] = {
    "exp": _py_unary(math.exp), "log": _py_log(math.log), "log2": _py_log(math.log2),
    "log10": _py_log(math.log10), "sqrt": _py_unary(math.sqrt), "sin": _py_unary(math.sin),
    "cos": _py_unary(math.cos), "tan": _py_unary(math.tan), "tanh": math.tanh, "pow": _py_pow,
    "erf": math.erf, "exp2": lambda x: _py_pow(2.0, x)}

_LIBM = _load_libm()
USING_C_LIBM = _LIBM is not None


def _cfun(name: str, is64: bool) -> Callable[..., float]:
    """The C library's f32/f64 function ``name`` (fallback: Python's, rounded by the caller)."""
    if _LIBM is not None:
        return _LIBM[(name, is64)]
    return _LIBM_FUNCS[name]


def _pow(is64: bool, x: float, y: float) -> float:
    """C pow, with pow(x, ±0) = pow(1, y) = 1 also for signalling NaNs (§5.6), where the C
    library returns NaN."""
    if y == 0.0 or x == 1.0:
        return 1.0
    return _cfun("pow", is64)(x, y)


def _sigmoid(is64: bool, x: float) -> float:
    """1 / (1 + exp(-x)) with every step rounded to the compute type."""
    t = _rnd(is64, _cfun("exp", is64)(-x))
    u = _rnd(is64, 1.0 + t)
    return _rnd(is64, _fdiv(1.0, u))


def _rsqrt(is64: bool, x: float) -> float:
    """1 / sqrt(x): two roundings (rsqrt(±0) = ±inf)."""
    s = _rnd(is64, _cfun("sqrt", is64)(x))
    return _rnd(is64, _fdiv(1.0, s))


def _to_integral(variant: str) -> Callable[[bool, float], float]:
    """FLOOR CEIL TRUNC ROUND (§12.5), exactly: NaN, ±inf and ±0 are kept, a zero result has
    the sign of x (ceil(-0.5) = -0.0); ROUND is C round (halfway cases away from zero)."""
    def f(is64: bool, x: float) -> float:
        if not math.isfinite(x) or x == 0.0:
            return x
        if variant == "FLOOR":
            r = math.floor(x)
        elif variant == "CEIL":
            r = math.ceil(x)
        elif variant == "TRUNC":
            r = math.trunc(x)
        else:
            r = math.floor(abs(Fraction(x)) + Fraction(1, 2)) * (-1 if x < 0 else 1)
        return math.copysign(float(r), x)        # exact: |r| is an integer of the type
    return f


def _libm_unary(name: str) -> Callable[[bool, float], float]:
    return lambda is64, x: _cfun(name, is64)(x)


# The float unary instructions (§5.6) on compute-type values; the caller rounds the result to
# the compute type. Their semantics are registered for exactly these variants.
_FLOAT_UNARY: Dict[str, Callable[[bool, float], float]] = {
    "EXP": _libm_unary("exp"), "LOG": _libm_unary("log"), "LOG2": _libm_unary("log2"),
    "LOG10": _libm_unary("log10"), "SQRT": _libm_unary("sqrt"), "RSQRT": _rsqrt,
    "SIN": _libm_unary("sin"), "COS": _libm_unary("cos"), "TAN": _libm_unary("tan"),
    "TANH": _libm_unary("tanh"), "SIGMOID": _sigmoid,
    "ERF": _libm_unary("erf"), "EXP2": _libm_unary("exp2"),             # ISA 1.1 (§12.5)
    **{v: _to_integral(v) for v in ("FLOOR", "CEIL", "TRUNC", "ROUND")},
}

_FLOAT_BINOPS: Dict[str, Callable[[bool, float, float], float]] = {
    "ADD": lambda is64, x, y: x + y,
    "SUB": lambda is64, x, y: x - y,
    "MUL": lambda is64, x, y: x * y,
    "DIV": lambda is64, x, y: _fdiv(x, y),
    "POW": lambda is64, x, y: _pow(is64, x, y),
}


def _binop(name: str, ty: DType, a: int, b: int) -> int:
    """ADD SUB MUL DIV REM MIN MAX AND OR XOR POW on register values of type ty (§5.2, §5.3,
    §5.6). Shared by the binary instructions, the reductions and the atomics."""
    if ty.is_int:
        return _INT_BINOPS[name](ty, a, b)
    is64 = ty == DType.F64
    ca, cb = _widen(ty, a), _widen(ty, b)
    if name == "MIN":
        return _narrow(ty, _fmin_bits(is64, ca, cb))
    if name == "MAX":
        return _narrow(ty, _fmax_bits(is64, ca, cb))
    r = _FLOAT_BINOPS[name](is64, _cval(is64, ca), _cval(is64, cb))
    return _narrow(ty, _cbits(is64, r))          # _cbits rounds to the compute type


def _compare(ty: DType, cond: Cond, a: int, b: int) -> bool:
    """SETcc (§5.4)."""
    if ty.is_float:
        x, y = _value(ty, a), _value(ty, b)      # Python comparisons are IEEE: NaN unordered
    elif cond >= Cond.LTU:                       # unsigned reinterpretation of the w bits
        mask = (1 << ty.bits) - 1
        x, y = a & mask, b & mask
        cond = Cond(cond - Cond.LTU + Cond.LT)
    else:
        x, y = a, b
    if cond == Cond.EQ:
        return x == y
    if cond == Cond.NE:
        return x != y
    if cond == Cond.LT:
        return x < y
    if cond == Cond.LE:
        return x <= y
    if cond == Cond.GT:
        return x > y
    return x >= y


# ---- conversion (§5.5)

def _f32_to_f64_bits(b: int) -> int:
    """f32 pattern -> f64 pattern: exact; a NaN keeps sign and payload and becomes quiet."""
    if (b & 0x7F800000) == 0x7F800000 and b & 0x7FFFFF:
        return ((b >> 31) << 63) | 0x7FF8000000000000 | ((b & 0x7FFFFF) << 29)
    return f64_bits(f32_from_bits(b))


def _f64_to_f32_bits(b: int) -> int:
    """f64 pattern -> f32 pattern (RNE, overflow to ±inf); a NaN keeps sign and top payload."""
    if (b & 0x7FF0000000000000) == 0x7FF0000000000000 and b & 0xFFFFFFFFFFFFF:
        return ((b >> 63) << 31) | 0x7FC00000 | ((b >> 29) & 0x3FFFFF)
    return f32_bits(f64_from_bits(b))


def _convert(src: DType, dst: DType, v: int) -> int:
    """cvt.dst.src of a register value."""
    if src == dst:
        return v                                   # bit-exact
    if src.is_int and dst.is_int:
        return _wrap(dst, v)                       # v is already the sign/zero-extended value
    if src.is_int:
        if dst == DType.F64:
            return f64_bits(_int_to_float(True, v))
        return _narrow(dst, f32_bits(_int_to_float(False, v)))
    if dst.is_int:
        x = _value(src, v)
        if math.isnan(x):
            return 0
        lo, hi = _int_range(dst)
        if math.isinf(x):
            return hi if x > 0 else lo
        return min(max(math.trunc(x), lo), hi)
    # float -> float: through the f32 pattern unless both ends are f64-exact
    b32 = _f64_to_f32_bits(v) if src == DType.F64 else _widen(src, v)
    if dst == DType.F64:
        return _f32_to_f64_bits(b32)
    return _narrow(dst, b32)


def _identity(op: str, ty: DType) -> int:
    """Identity of a reduction (§5.7), as a register value of type ty."""
    if ty.is_int:
        lo, hi = _int_range(ty)
        return {"ADD": 0, "MUL": 1, "MIN": hi, "MAX": lo}[op]
    return _encode(ty, {"ADD": 0.0, "MUL": 1.0, "MIN": math.inf, "MAX": -math.inf}[op])


# ============================================================================================
# Memory values

def _from_bytes(ty: DType, data: bytes) -> int:
    return int.from_bytes(data, "little", signed=ty.is_signed)   # floats: the pattern


def _to_bytes(ty: DType, v: int) -> bytes:
    return (v & ((1 << ty.bits) - 1)).to_bytes(ty.size, "little")


def _load(buf: np.ndarray, o: int, ty: DType) -> int:
    return _from_bytes(ty, buf[o:o + ty.size].tobytes())


def _store(buf: np.ndarray, o: int, ty: DType, v: int) -> None:
    buf[o:o + ty.size] = np.frombuffer(_to_bytes(ty, v), np.uint8)


# ============================================================================================
# Lanes

class _Lane:
    """One lane's state (§1)."""

    __slots__ = ("gid", "lane_idx", "linear", "regs", "preds", "pc", "stack", "phase", "cls",
                 "steps", "state", "bar_id", "fault")

    def __init__(self, gid: int, lane_idx: Tuple[int, int, int], linear: int, cls: int):
        self.gid = gid
        self.lane_idx = lane_idx
        self.linear = linear            # linear lane index in the block (§7.2)
        self.regs: List[Optional[Tuple[DType, int]]] = [None] * 256
        self.preds: List[Optional[bool]] = [None] * 16
        self.pc = 0
        self.stack: List[int] = []
        self.phase = 0
        self.cls = cls
        self.steps = 0
        self.state = RUNNING
        self.bar_id = 0
        self.fault: Optional[Fault] = None

    def read(self, reg: int, ty: DType) -> int:
        """Typed register read (§3.1)."""
        entry = self.regs[reg]
        if entry is None:
            raise _Fault(faults.UNINIT_REG, reg)
        if entry[0] != ty:
            raise _Fault(faults.TYPE_MISMATCH, reg, int(ty), int(entry[0]))
        return entry[1]

    def read_pred(self, p: int) -> bool:
        value = self.preds[p]
        if value is None:
            raise _Fault(faults.UNINIT_PRED, p)
        return value

    def write(self, reg: int, ty: DType, value: int) -> None:
        self.regs[reg] = (ty, value)


# ============================================================================================
# Instruction plans: the isa.py table turned into read steps, once per launch

class _Plan:
    """One instruction prepared for execution.

    ``static`` holds the field values (labels resolved to indices; register fields as their
    indices); ``reads`` lists the read steps in field order; executing the plan copies
    ``static`` and replaces each read field by the value read. ``out`` is the written field:
    ("r", register, type) or ("p", predicate, None), or None.
    """

    __slots__ = ("ins", "static", "reads", "out", "semantics", "collective")

    def __init__(self, ins: Instruction, labels: Any):
        self.ins = ins
        self.static: Dict[str, Any] = {}
        self.reads: List[Tuple[str, str, Any, Any]] = []   # (kind, field, operand, type/when)
        self.out: Optional[Tuple[str, int, Optional[DType]]] = None
        # a warp collective (§12.4) runs for the warp's participating lanes together
        self.collective = _COLLECTIVE_SEMANTICS.get(ins.variant)
        self.semantics = _SEMANTICS.get(ins.variant)
        negate = getattr(ins, "negate", False)
        last_pred = None
        sel_seen = 0
        for f, val in zip(ins.spec.fields, ins.values):
            self.static[f.name] = labels[val] if f.kind == "label" else val
            if f.kind in (GADDR, SADDR):
                self.reads.append((f.kind, f.name, val, None))
            elif f.role == "w":
                self.out = ("p", val, None) if f.kind == PRED else ("r", val, ins.reg_type(f))
            elif isinstance(val, Imm):            # §12.1: as if held by a register of the type
                ty = ins.reg_type(f)
                assert ty is not None
                self.static[f.name] = _wrap(ty, val.value) if ty.is_int else \
                    val.value & ((1 << ty.bits) - 1)
            elif f.role in ("r", "rw"):
                if f.kind in (PRED, OPTPRED):
                    if val is not None:
                        self.reads.append(("p", f.name, val, None))
                    last_pred = f.name
                else:
                    self.reads.append(("r", f.name, val, ins.reg_type(f)))
            elif f.role == "sel":
                # The first "sel" field is read when the predicate is true, the second when
                # false (the other way round when negated, §12.3).
                self.reads.append(("sel", f.name, val, (ins.reg_type(f), last_pred,
                                                        (sel_seen == 0) != negate)))
                sel_seen += 1
            elif f.role == "range":
                self.reads.append(("range", f.name, val, ins.reg_type(f)))


def _global_address(lane: _Lane, addr: Any) -> Tuple[int, int]:
    """(handle, offset) of a global address, reading its registers as u64 (§4.6)."""
    if isinstance(addr, BufferOffset):
        return addr.handle, addr.offset
    if isinstance(addr, PhiCoordinate):
        return 0, atlas.boundary_offset(addr.cls, addr.page, addr.byte)
    if isinstance(addr, RegisterIndirect):
        return lane.read(addr.base, DType.U64), addr.offset
    assert isinstance(addr, RegisterIndirectComputed)
    handle = lane.read(addr.handle_reg, DType.U64)
    return handle, _computed_offset(lane, addr)


def _computed_offset(lane: _Lane, addr: RegisterIndirectComputed) -> int:
    """rO · scale ± disp mod 2^64 (§12.2.1; a wrapped offset is simply out of bounds)."""
    return (lane.read(addr.offset_reg, DType.U64) * addr.scale + addr.disp) & U64_MASK


def _shared_address(lane: _Lane, addr: Any) -> int:
    """Offset of a shared address: handle parts are not read; ``[rB ± D]`` is rB ± D
    (ISA 1.1 §12.2.3; in 1.0 it was D alone)."""
    if isinstance(addr, BufferOffset):
        return addr.offset
    if isinstance(addr, PhiCoordinate):
        return atlas.boundary_offset(addr.cls, addr.page, addr.byte)
    if isinstance(addr, RegisterIndirect):
        return (lane.read(addr.base, DType.U64) + addr.offset) & U64_MASK
    assert isinstance(addr, RegisterIndirectComputed)
    return _computed_offset(lane, addr)


def _read_operands(lane: _Lane, plan: _Plan) -> Dict[str, Any]:
    """Step (1) of §1: read every source in field order; the first failed read faults."""
    v = dict(plan.static)
    for kind, name, operand, extra in plan.reads:
        if kind == "r":
            v[name] = lane.read(operand, extra)
        elif kind == "p":
            v[name] = lane.read_pred(operand)
        elif kind == "sel":
            ty, pred, when = extra
            v[name] = lane.read(operand, ty) if v[pred] == when else None
        elif kind == "range":
            v[name] = [lane.read(r, extra) for r in range(operand, operand + v["count"])]
        elif kind == GADDR:
            v[name] = _global_address(lane, operand)
        else:
            v[name] = _shared_address(lane, operand)
    return v


# ============================================================================================
# The interpreter

class _Interpreter:
    """One launch: the memory it reaches, the resonance accumulator and the block loop."""

    def __init__(self, launch: Launch, buffers: Mapping[int, np.ndarray],
                 count: Optional[StepCount] = None):
        self.launch = launch
        self.count = count
        program = launch.program
        self.n = len(program)
        self.plans = [_Plan(ins, program.labels) for ins in program.instructions]
        self.max_steps = launch.max_steps
        # every live handle: the host buffers and this launch's parameters
        self.buffers = dict(buffers)
        for h, obj, _, _ in launch.bound:
            self.buffers[h] = byte_view(obj, f"handle {h}", writable=False)
        # window parameters: handle -> base (the buffer holds bytes [base, base + size))
        self.window_base = {h: w.base for h, w in (launch.windows or {}).items()}
        self.pools = launch.pools
        self.boundary = launch.pools.view(0)
        self.resonance = np.zeros(atlas.NUM_CLASSES, np.float64)
        self.shared = np.zeros(0, np.uint8)
        self.block_idx = (0, 0, 0)
        timeout = getattr(launch, "timeout", None)
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.tick = _TICK

    def check_deadline(self) -> None:
        self.tick = _TICK
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise _TimedOut()

    # ---- blocks and lanes

    def run(self) -> Tuple[np.ndarray, Optional[Fault]]:
        gx, gy, gz = self.launch.grid
        first, stop = self.launch.block_range or (0, gx * gy * gz)
        for b in range(first, stop):                 # lazily: the grid may be huge
            self.check_deadline()
            fault = self._run_block(b)
            if fault is not None:
                return self.resonance, fault
        return self.resonance, None

    def _new_lane(self, block_linear: int, l: int) -> _Lane:
        bx_, by_, bz_ = self.launch.block
        per_block = bx_ * by_ * bz_
        lane_idx = (l % bx_, (l // bx_) % by_, l // (bx_ * by_))
        gid = block_linear * per_block + l
        bx = self.block_idx[0]
        lane = _Lane(gid, lane_idx, l, bx % atlas.NUM_CLASSES)
        # §3.2: special registers, then the parameters (which may overwrite them)
        lane.write(252, DType.U32, lane_idx[0])
        lane.write(253, DType.U32, bx)
        lane.write(254, DType.U32, bx_)
        lane.write(255, DType.U64, gid)
        for reg, ty, value in self.launch.reg_init:
            lane.write(reg, DType(ty), value)
        return lane

    def _run_block(self, b: int) -> Optional[Fault]:
        """Run block b to completion; return the fault of its lowest faulting lane."""
        gx, gy, _ = self.launch.grid
        self.block_idx = (b % gx, (b % (gx * gy)) // gx, b // (gx * gy))
        self.shared = np.zeros(self.launch.shared_memory, np.uint8)
        bx_, by_, bz_ = self.launch.block
        lanes = [self._new_lane(b, l) for l in range(bx_ * by_ * bz_)]
        while True:
            for lane in lanes:
                if lane.state == RUNNING:
                    self._run_lane(lane)
            if any(lane.state == WARP for lane in lanes):     # §12.4: before any barrier
                for w in range(0, len(lanes), WARP_SIZE):
                    self._resolve_warp(lanes[w:w + WARP_SIZE], w // WARP_SIZE)
                continue
            waiting = [lane for lane in lanes if lane.state == WAITING]
            if not waiting:
                break
            # §6.3: nobody runs; done and faulted lanes count as arrived
            if len({lane.bar_id for lane in waiting}) == 1:
                for lane in waiting:
                    lane.state = RUNNING
                    lane.pc += 1
            else:
                for lane in waiting:
                    lane.fault = Fault(faults.BARRIER_DIVERGENCE, lane.gid, lane.pc,
                                       (lane.bar_id,))
                    lane.state = FAULTED
        if self.count is not None:
            self.count.lanes += len(lanes)
            self.count.steps += sum(lane.steps for lane in lanes)
            self.count.max_lane = max(self.count.max_lane, max(lane.steps for lane in lanes))
        for lane in lanes:
            if lane.fault is not None:
                return lane.fault
        return None

    def _resolve_warp(self, warp: List[_Lane], w: int) -> None:
        """§12.4: if every lane of the warp that is not done waits at one warp collective,
        run it for them together; else the lanes waiting at a collective fault."""
        at = [lane for lane in warp if lane.state == WARP]
        if not at:
            return
        live = [lane for lane in warp if lane.state not in (DONE, FAULTED)]
        if len(at) != len(live) or len({lane.pc for lane in at}) != 1:
            for lane in at:
                lane.fault = Fault(faults.WARP_DIVERGENCE, lane.gid, lane.pc, (w,))
                lane.state = FAULTED
            return
        plan = self.plans[at[0].pc]
        reads: Dict[int, Tuple[_Lane, Dict[str, Any]]] = {}   # warp lane -> (lane, operands)
        for lane in at:
            try:
                reads[lane.linear % WARP_SIZE] = (lane, _read_operands(lane, plan))
            except _Fault as f:          # a failed read ends the lane; it does not participate
                lane.fault = Fault(f.code, lane.gid, lane.pc, f.detail)
                lane.state = FAULTED
        assert plan.collective is not None
        results = plan.collective(reads) if reads else {}
        for lane, value in results.values():          # every participant read, now all write
            _put(lane, plan, value)
            lane.pc += 1
            lane.state = RUNNING

    def _run_lane(self, lane: _Lane) -> None:
        """Run one lane until it ends, faults or waits at a barrier (§1 life cycle)."""
        while lane.state == RUNNING:
            pc = lane.pc
            if pc == self.n:
                lane.state = DONE
                return
            self.tick -= 1
            if self.tick <= 0:
                self.check_deadline()
            try:
                if self.max_steps is not None and lane.steps == self.max_steps:
                    raise _Fault(faults.STEP_LIMIT, self.max_steps)
                lane.steps += 1
                plan = self.plans[pc]
                if plan.semantics is None:  # a collective: wait for the warp (§12.4)
                    lane.state = WARP
                    return
                v = _read_operands(lane, plan)
                lane.pc = plan.semantics(self, lane, plan, v)
            except _Fault as f:
                lane.fault = Fault(f.code, lane.gid, pc, f.detail)
                lane.state = FAULTED

    # ---- memory (§4.7: handle, then bounds, then alignment for atomics)

    def _buffer(self, handle: int) -> Optional[np.ndarray]:
        if handle == 0:
            return self.boundary
        if CLASS_HANDLE_BASE <= handle <= U64_MASK:
            c = handle - CLASS_HANDLE_BASE
            return self.boundary[c * atlas.CLASS_BYTES:(c + 1) * atlas.CLASS_BYTES]
        return self.buffers.get(handle)

    def global_span(self, addr: Tuple[int, int], n: int, atomic: bool = False
                    ) -> Tuple[np.ndarray, int]:
        """Check an n-byte global access; return (buffer, offset)."""
        handle, o = addr
        buf = self._buffer(handle)
        if buf is None:
            raise _Fault(faults.INVALID_HANDLE, handle, 0)
        size = buf.size
        rel = o - self.window_base.get(handle, 0)
        if rel < 0 or rel + n > size:                # Python ints: no overflow
            raise _Fault(faults.OUT_OF_BOUNDS, handle, o & U64_MASK, n, size, 0)
        if atomic and o % n:
            raise _Fault(faults.MISALIGNED, handle, o, n)
        return buf, rel

    def shared_span(self, o: int, n: int, atomic: bool = False) -> Tuple[np.ndarray, int]:
        """Check an n-byte shared-memory access; return (shared memory, offset)."""
        size = self.shared.size
        if o < 0 or o + n > size:
            raise _Fault(faults.SHARED_OUT_OF_BOUNDS, o & U64_MASK, n, size)
        if atomic and o % n:
            raise _Fault(faults.MISALIGNED, faults.SHARED, o, n)
        return self.shared, o

    def pool_span(self, pid: int, o: int, n: int) -> Tuple[np.ndarray, int]:
        view = self.pools.view(pid)
        if view is None:
            raise _Fault(faults.INVALID_HANDLE, pid, 1)
        if o + n > view.size:
            raise _Fault(faults.OUT_OF_BOUNDS, pid, o, n, view.size, 1)
        return view, o

    def sreg(self, lane: _Lane, s: SReg) -> int:
        """Special-register values (§3.3)."""
        if s == SReg.GlobalId:
            return lane.gid
        if s == SReg.LaneId:
            return lane.linear % WARP_SIZE
        if s == SReg.WarpId:
            return lane.linear // WARP_SIZE
        axis = s.name[-1]
        i = "XYZ".index(axis)
        base = s.name[:-1]
        if base == "Lane":
            return lane.lane_idx[i]
        if base == "Block":
            return self.block_idx[i]
        if base == "BlockDim":
            return self.launch.block[i]
        return self.launch.grid[i]


# ============================================================================================
# Semantics: one function per variant or family.
# Signature: (interpreter, lane, plan, values) -> next pc. ``values`` holds every field, read
# operands replaced by their values. Every check precedes the first write.

Sem = Callable[[_Interpreter, _Lane, _Plan, Dict[str, Any]], int]
_SEMANTICS: Dict[str, Sem] = {}


def _sem(*variants: str) -> Callable[[Sem], Sem]:
    def deco(fn: Sem) -> Sem:
        for variant in variants:
            _SEMANTICS[variant] = fn
        return fn
    return deco


def _put(lane: _Lane, plan: _Plan, value: Any) -> None:
    """Write the instruction's destination field with the type the table gives it."""
    assert plan.out is not None
    kind, index, ty = plan.out
    if kind == "p":
        lane.preds[index] = bool(value)
    else:
        assert ty is not None                 # register destinations always have a type
        lane.write(index, ty, value)


# ---- 5.1 data movement

@_sem("LDG")
def _ldg(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    buf, o = ex.global_span(v["addr"], v["ty"].size)
    _put(lane, plan, _load(buf, o, v["ty"]))
    return lane.pc + 1


@_sem("STG")
def _stg(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    buf, o = ex.global_span(v["addr"], v["ty"].size)
    _store(buf, o, v["ty"], v["src"])
    return lane.pc + 1


@_sem("LDS")
def _lds(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    buf, o = ex.shared_span(v["addr"], v["ty"].size)
    _put(lane, plan, _load(buf, o, v["ty"]))
    return lane.pc + 1


@_sem("STS")
def _sts(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    buf, o = ex.shared_span(v["addr"], v["ty"].size)
    _store(buf, o, v["ty"], v["src"])
    return lane.pc + 1


@_sem("MOV")
def _mov(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    _put(lane, plan, v["src"])
    return lane.pc + 1


@_sem("MOV_IMM")
def _mov_imm(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    ty = v["ty"]
    # Low w bits: integers as the type's value, floats as the bit pattern.
    _put(lane, plan, _wrap(ty, v["value"]) if ty.is_int else v["value"] & ((1 << ty.bits) - 1))
    return lane.pc + 1


@_sem("MOV_SREG")
def _mov_sreg(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    _put(lane, plan, ex.sreg(lane, v["sreg"]))
    return lane.pc + 1


@_sem("CVT")
def _cvt(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    _put(lane, plan, _convert(v["src_ty"], v["dst_ty"], v["src"]))
    return lane.pc + 1


# ---- 5.2 / 5.3 / 5.6 binary operations

@_sem("ADD", "SUB", "MUL", "DIV", "REM", "MIN", "MAX", "AND", "OR", "XOR", "POW")
def _binary(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    _put(lane, plan, _binop(plan.ins.variant, v["ty"], v["src1"], v["src2"]))
    return lane.pc + 1


@_sem("MAD")
def _mad(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    ty = v["ty"]
    if ty.is_int:
        r = _wrap(ty, v["a"] * v["b"] + v["c"])
    else:                                        # round(round(a·b) + c) in the compute type
        is64 = ty == DType.F64
        a, b, c = (_value(ty, v[k]) for k in "abc")
        r = _encode(ty, _rnd(is64, _rnd(is64, a * b) + c))
    _put(lane, plan, r)
    return lane.pc + 1


@_sem("FMA")
def _fma_sem(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    ty = v["ty"]
    a, b, c = (_value(ty, v[k]) for k in "abc")
    _put(lane, plan, _encode(ty, _fma(ty == DType.F64, a, b, c)))
    return lane.pc + 1


@_sem("ABS", "NEG", "NOT")
def _unary_bits(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    ty, a, op = v["ty"], v["src"], plan.ins.variant
    if op == "NOT":
        r = _wrap(ty, ~a)
    elif ty.is_int:
        r = _wrap(ty, abs(a) if op == "ABS" else -a)      # abs(MIN) = -MIN wraps to MIN
    else:                                                 # bit edits, NaN payloads kept
        r = a & ~_SIGN[ty] if op == "ABS" else a ^ _SIGN[ty]
    _put(lane, plan, r)
    return lane.pc + 1


@_sem("SHL", "SHR")
def _shift(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    ty, a = v["ty"], v["src"]
    k = v["amount"] % ty.bits
    # Python's >> on the (signed or unsigned) value is arithmetic / logical as required.
    _put(lane, plan, _wrap(ty, a << k) if plan.ins.variant == "SHL" else a >> k)
    return lane.pc + 1


@_sem(*_FLOAT_UNARY)
def _transcendental(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    ty = v["ty"]
    is64 = ty == DType.F64
    r = _FLOAT_UNARY[plan.ins.variant](is64, _value(ty, v["src"]))
    _put(lane, plan, _encode(ty, _rnd(is64, r)))
    return lane.pc + 1


# ---- 5.4 compare and select

@_sem("SETcc")
def _setcc(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    _put(lane, plan, _compare(v["ty"], v["cond"], v["src1"], v["src2"]))
    return lane.pc + 1


@_sem("SEL")
def _sel(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    _put(lane, plan, v["src_true"] if v["pred"] != v["negate"] else v["src_false"])
    return lane.pc + 1


# ---- 5.7 reductions

@_sem("ReduceAdd", "ReduceMin", "ReduceMax", "ReduceMul")
def _reduce(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    op = plan.ins.variant[len("Reduce"):].upper()
    ty = v["ty"]
    acc = _identity(op, ty)
    for x in v["src_base"]:
        acc = _binop(op, ty, acc, x)
    _put(lane, plan, acc)
    return lane.pc + 1


# ---- 5.8 atomics

def _atomic_new(op: AtomOp, ty: DType, old: int, s: int) -> int:
    if op == AtomOp.EXCH:
        return s
    return _binop(op.name, ty, old, s)


@_sem("ATOM", "ATOMS")
def _atom(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    ty = v["ty"]
    if plan.ins.variant == "ATOM":
        buf, o = ex.global_span(v["addr"], ty.size, atomic=True)
    else:
        buf, o = ex.shared_span(v["addr"], ty.size, atomic=True)
    old = _load(buf, o, ty)
    _store(buf, o, ty, _atomic_new(v["op"], ty, old, v["src"]))
    _put(lane, plan, old)
    return lane.pc + 1


@_sem("ATOM_CAS", "ATOMS_CAS")
def _atom_cas(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    ty = v["ty"]
    if plan.ins.variant == "ATOM_CAS":
        buf, o = ex.global_span(v["addr"], ty.size, atomic=True)
    else:
        buf, o = ex.shared_span(v["addr"], ty.size, atomic=True)
    old = _load(buf, o, ty)
    if old == v["cmp"]:                   # same type: equal values <=> equal bit patterns
        _store(buf, o, ty, v["src"])
    _put(lane, plan, old)
    return lane.pc + 1


# ---- 5.9 pools

@_sem("PoolAlloc")
def _pool_alloc(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    size = v["size"]
    if size <= 2**48:               # allocating costs like touching the memory (as in the VM)
        ex.tick -= size >> 6
    try:
        pid = ex.pools.alloc(size)          # the backend's table: the same quota as the VM
    except (MemoryError, OverflowError, ValueError):
        pid = 0
    if pid <= 0:
        raise _Fault(faults.ALLOC_FAILED, size, int(pid < 0), ex.pools.quota)
    _put(lane, plan, pid)
    return lane.pc + 1


@_sem("PoolFree")
def _pool_free(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    if not ex.pools.free(v["handle"]):      # released at once: no view of it is kept
        raise _Fault(faults.INVALID_HANDLE, v["handle"], 1)
    return lane.pc + 1


@_sem("PoolLoad")
def _pool_load(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    buf, o = ex.pool_span(v["pool"], v["offset"], v["ty"].size)
    _put(lane, plan, _load(buf, o, v["ty"]))
    return lane.pc + 1


@_sem("PoolStore")
def _pool_store(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    buf, o = ex.pool_span(v["pool"], v["offset"], v["ty"].size)
    _store(buf, o, v["ty"], v["src"])
    return lane.pc + 1


# ---- 6.1 control flow

@_sem("BRA")
def _bra(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    taken = v["pred"] is None or v["pred"] != v["negate"]     # bra.!pN: taken iff pN is false
    return v["target"] if taken else lane.pc + 1


@_sem("CALL")
def _call(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    if len(lane.stack) >= CALL_DEPTH:
        raise _Fault(faults.CALL_OVERFLOW)
    lane.stack.append(lane.pc + 1)
    return v["target"]


@_sem("RET")
def _ret(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    if not lane.stack:
        raise _Fault(faults.CALL_UNDERFLOW)
    return lane.stack.pop()


@_sem("LOOP")
def _loop(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    c = v["count"]
    if c > 0:
        lane.write(plan.static["count"], DType.U32, c - 1)   # "rw": written back as u32
        return v["body"]
    return lane.pc + 1


@_sem("EXIT")
def _exit(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    lane.state = DONE
    return lane.pc


@_sem("BarSync")
def _bar_sync(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    lane.state = WAITING            # the block loop releases it at pc + 1 (§6.3)
    lane.bar_id = v["id"]
    return lane.pc


@_sem("MemFence")
def _mem_fence(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    return lane.pc + 1              # lanes already execute in program order (§6.4)


# ---- 5.10 Atlas

def _check_class(c: int) -> int:
    if c >= atlas.NUM_CLASSES:
        raise _Fault(faults.INVALID_COORDINATE, c, 0)
    return c


@_sem("ClsGet")
def _cls_get(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    _put(lane, plan, lane.cls)
    return lane.pc + 1


@_sem("MIRROR")
def _mirror(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    _put(lane, plan, atlas.MIRROR[_check_class(v["src"])])
    return lane.pc + 1


@_sem("UnityTest")
def _unity(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    _put(lane, plan, atlas.IS_UNITY[lane.cls])      # epsilon is ignored
    return lane.pc + 1


@_sem("NbrCount")
def _nbr_count(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    _put(lane, plan, atlas.DEGREE[_check_class(v["class"])])
    return lane.pc + 1


@_sem("NbrGet")
def _nbr_get(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    _put(lane, plan, atlas.neighbour(_check_class(v["class"]), v["index"]))
    return lane.pc + 1


@_sem("ResAccum")
def _res_accum(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    c = _check_class(v["class"])
    ex.resonance[c] += f64_from_bits(v["value"])
    return lane.pc + 1


@_sem("PhaseGet")
def _phase_get(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    _put(lane, plan, lane.phase)
    return lane.pc + 1


@_sem("PhaseAdv")
def _phase_adv(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    lane.phase = (lane.phase + v["delta"]) % atlas.PHASE_MODULUS
    return lane.pc + 1


@_sem("BoundMap")
def _bound_map(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    c = _check_class(v["class"])
    if v["page"] >= atlas.PAGES:
        raise _Fault(faults.INVALID_COORDINATE, v["page"], 1)
    _put(lane, plan, atlas.boundary_offset(c, v["page"], v["byte"]))
    return lane.pc + 1


# ---- 12.3 predicate logic

@_sem("PAND", "POR", "PXOR")
def _pred_binary(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    a, b, op = v["src1"], v["src2"], plan.ins.variant
    _put(lane, plan, (a and b) if op == "PAND" else (a or b) if op == "POR" else a != b)
    return lane.pc + 1


@_sem("PNOT")
def _pred_not(ex: _Interpreter, lane: _Lane, plan: _Plan, v: Dict[str, Any]) -> int:
    _put(lane, plan, not v["src"])
    return lane.pc + 1


# ---- 12.4 warp collectives: (warp lane -> (lane, operands)) of the participating lanes ->
# (warp lane -> (lane, result))

Reads = Dict[int, Tuple[_Lane, Dict[str, Any]]]
_COLLECTIVE_SEMANTICS: Dict[str, Callable[[Reads], Dict[int, Tuple[_Lane, Any]]]] = {}


def _shfl(reads: Reads) -> Dict[int, Tuple[_Lane, Any]]:
    out = {}
    for i, (lane, v) in reads.items():
        L, mode = v["lane"], v["mode"]
        j = (L % WARP_SIZE if mode == ShflMode.IDX else i - L if mode == ShflMode.UP else
             i + L if mode == ShflMode.DOWN else i ^ L)
        out[i] = (lane, reads[j][1]["src"] if j in reads else v["src"])   # else: own value
    return out


def _vote(reads: Reads) -> Dict[int, Tuple[_Lane, Any]]:
    values = [v["src"] for _, v in reads.values()]
    result = any(values) if next(iter(reads.values()))[1]["mode"] == VoteMode.ANY \
        else all(values)
    return {i: (lane, result) for i, (lane, _) in reads.items()}


def _ballot(reads: Reads) -> Dict[int, Tuple[_Lane, Any]]:
    mask = sum(1 << i for i, (_, v) in reads.items() if v["src"])
    return {i: (lane, mask) for i, (lane, _) in reads.items()}


_COLLECTIVE_SEMANTICS.update(SHFL=_shfl, VOTE=_vote, BALLOT=_ballot)


# ============================================================================================
# Entry point

class ReferenceEngine:
    """The interpreter as a backend's engine (``CpuBackend(engine="reference")``).

    ``step_counts`` maps each kernel's name (``.kernel``; ``""`` without one) to the
    :class:`StepCount` of every launch run so far (clear it to start again)."""

    name = "reference"

    def __init__(self) -> None:
        self.step_counts: Dict[str, StepCount] = {}

    def buffers_changed(self) -> None:
        """Nothing is cached: each run reads the backend's buffers as they are."""

    def run(self, launch: Launch, buffers: Mapping[int, np.ndarray]
            ) -> Tuple[np.ndarray, Optional[Fault]]:
        count = self.step_counts.setdefault(launch.program.name or "", StepCount())
        count.launches += 1
        count.instructions = len(launch.program)
        return run(launch, buffers, count)


def run(launch: Launch, buffers: Mapping[int, np.ndarray], count: Optional[StepCount] = None
        ) -> Tuple[np.ndarray, Optional[Fault]]:
    """Run a launch over the backend's host buffers (handle -> uint8 array); return the 96-entry
    f64 resonance accumulator and the fault of the lowest faulting global lane (or None).
    Ctrl-C returns zeros and an INTERRUPTED fault. ``count``, if given, accumulates the lanes
    and instructions executed."""
    try:
        launch.program.validate()   # §7.4: before any lane runs (cheap; guards validate=False)
        return _Interpreter(launch, buffers, count).run()
    except KeyboardInterrupt:
        return (np.zeros(atlas.NUM_CLASSES, np.float64),
                Fault(faults.INTERRUPTED, -1, -1, ()))
    except _TimedOut:
        assert launch.timeout is not None     # only a launch with a deadline times out
        return (np.zeros(atlas.NUM_CLASSES, np.float64),
                Fault(faults.TIMEOUT, -1, -1, (int(launch.timeout * 1e6),)))


def _check_semantics_complete() -> None:
    assert set(_COLLECTIVE_SEMANTICS) == COLLECTIVES
    missing = [s.variant for s in SPECS
               if s.variant not in _SEMANTICS and s.variant not in _COLLECTIVE_SEMANTICS]
    if missing:
        raise RuntimeError(f"reference interpreter lacks semantics for {missing}")


_check_semantics_complete()
