"""Differential tests: random valid programs must behave identically on the Cython VM (with 1
and 2 OpenMP threads) and on the pure-Python reference interpreter.

A hypothesis-driven generator (:class:`Gen`) builds programs from the instruction table of
:mod:`hologram.isa` while tracking, at every point, the static type of every register
(``vals``: register -> (DType, exact)) and which predicates are initialised. Every instruction
it emits therefore reads registers of the right type, except in the faulting family, which
plants faults on purpose (by construction only in chosen lanes).

``exact`` records whether a float register's bits are fully specified by ISA.md: values made by
moves, loads, SEL, ABS/NEG and same-type CVT keep NaN payloads, while any other float operation
"may produce any quiet NaN" (§2). Output fields of exact registers are compared bit for bit,
inexact float fields with NaN == NaN. Inexact floats are canonicalised (NaN -> the canonical NaN,
with setne/sel) before they are stored to scratch or shared memory, so that memory can be
compared byte for byte.

Families (each a test below):

* ``arith``: straight-line code over all types and all non-memory instructions, plus Atlas ops;
* ``control``: the same with forward branches / if-else on lane-id predicates, LOOP and
  backward-BRA loops (bounded counters, some lane-dependent), CALL/RET subroutines, early EXIT;
* ``memory``: loads from read-only inputs at lane-dependent offsets (all address modes, the
  boundary pool through Φ, class handles and pool 0), stores/loads in a lane's own slots of a
  scratch buffer, of the boundary pool and of lane-private pools;
* ``shared``: each lane writes its shared slot, bar.sync, reads a neighbour's; shared atomics;
* ``atomics``: commutative integer (and exactly summable float) atomics on a histogram;
* ``faulting``: the above plus planted faults in chosen lanes; both engines must report the
  fault of the lowest faulting global lane with the same class, lane, pc and message, which is
  also checked against the construction.

No two lanes of a block touch the same non-atomic location unless a barrier orders them (the VM
runs a block instruction by instruction across lanes, the reference lane by lane).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Set, Tuple

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, seed, settings
from hypothesis import strategies as st

import hologram as hg
from hologram import _core
from hologram.backend import lane_coords
from hologram.isa import (SPEC_BY_VARIANT, AtomOp, BufferOffset, Cond, DType, Instruction,
                          PhiCoordinate, RegisterIndirect, RegisterIndirectComputed, Scope, SReg,
                          T_WIDE, T_WIDE_INT)
from hologram.program import Program
from isa_testlib import SREGS_10

# ---------------------------------------------------------------------------------------------
# Register, predicate and buffer conventions of generated programs

R_OUT, R_IN, R_SCRATCH, R_HIST, R_KINDS = 240, 241, 242, 243, 244
# Parameters are bound in ascending register order on a fresh backend: handles 1, 2, 3, ...
H_OUT, H_IN, H_SCRATCH, H_HIST, H_KINDS = 1, 2, 3, 4, 5
T0, T1, T2, T3 = 220, 221, 222, 223          # ephemeral temporaries (never in `vals`)
EPI = (224, 225, 226, 227, 228)              # epilogue temporaries
R_KIND = 230                                 # faulting family: this lane's fault kind (u8)
R_CNAN, R_CAN = 231, 232                     # canonicalisation temporaries
R_LL, R_GID, R_SLOT, R_POOL = 233, 234, 235, 236   # lane linear index (u64), gid temp, its
                                                  # shared slot, pool id
R_SEED = 237                                 # gid * odd constant (u64): seed-load offsets
R_ZERO, R_BASE = 238, 239                    # u64 0 (boundary handle / pool 0), gid * SCR
MAIN_REGS = tuple(range(0, 120)) + (252, 253, 254, 255)
MAIN_COUNTERS = ((212, 213), (214, 215), (216, 217), (218, 219))
FAULT_REGS = tuple(range(200, 212))
MAIN_PREDS = tuple(range(0, 8))
FAULT_PREDS = (8, 9, 10, 11)
P_DISPATCH, P_CANON, P_BRANCH, P_LOOP = 12, 13, 14, 15

INB = 256                                    # bytes of the read-only input buffer
SCR = 32                                     # scratch bytes per lane (buffer and boundary pool)
NBINS = 8                                    # histogram bins per atomic site (8 bytes each)
PHI_CLASSES = (60, 61)                       # boundary-pool classes prefilled with data
PHI_OFF = 12288 * PHI_CLASSES[0]
PHI_BYTES = 12288 * len(PHI_CLASSES)
CLASS_HANDLE_BASE = 2**64 - 96

INTS = [t for t in DType if t.is_int]
FLOATS = [t for t in DType if t.is_float]
ALL_TYPES = list(DType)

_SIGN = {DType.F16: 0x8000, DType.BF16: 0x8000, DType.F32: 1 << 31, DType.F64: 1 << 63}
CANON_NAN = {DType.F16: 0x7E00, DType.BF16: 0x7FC0, DType.F32: 0x7FC00000,
             DType.F64: 0x7FF8000000000000}

INT_SPECIALS = [0, 1, 2, 3, 5, 7, 8, 15, 16, 31, 32, 33, 63, 64, 100, 127, 128, 255, 256,
                0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
                2**63 - 1, 2**63, 2**64 - 1, 2**64 - 2, 0xDEADBEEF12345678]
FLOAT_SPECIALS = {
    DType.F16: [0x0000, 0x8000, 0x3C00, 0xBC00, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE01, 0x0001,
                0x03FF, 0x0400, 0x7BFF, 0x3800, 0x4200, 0x5640, 0xC900, 0x2E66],
    DType.BF16: [0x0000, 0x8000, 0x3F80, 0xBF80, 0x7F80, 0xFF80, 0x7FC0, 0x7F81, 0xFFC1, 0x0001,
                 0x007F, 0x0080, 0x7F7F, 0x3F00, 0x4040, 0x4B00, 0xC2C8, 0x3DCD],
    DType.F32: [0x00000000, 0x80000000, 0x3F800000, 0xBF800000, 0x7F800000, 0xFF800000,
                0x7FC00000, 0x7F800001, 0xFFC12345, 0x00000001, 0x007FFFFF, 0x00800000,
                0x7F7FFFFF, 0x3F000000, 0x4B000000, 0x4F000000, 0xCF000000, 0x5F000000,
                0x42F6E979, 0x3DCCCCCD, 0xC2C80000],
    DType.F64: [0, 1 << 63, 0x3FF0000000000000, 0xBFF0000000000000, 0x7FF0000000000000,
                0xFFF0000000000000, 0x7FF8000000000000, 0x7FF0000000000001, 0xFFF8000000012345,
                1, 0x000FFFFFFFFFFFFF, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF,
                0x3FE0000000000000, 0x43E0000000000000, 0xC3E0000000000000,
                0x41DFFFFFFFC00000, 0x3FB999999999999A, 0xC059000000000000],
}

# Non-memory instructions of the "arith" mix, and their relative weights.
ARITH_OPS = (
    ("ADD", 6), ("SUB", 4), ("MUL", 4), ("DIV", 3), ("REM", 2), ("MAD", 2), ("FMA", 2),
    ("MIN", 2), ("MAX", 2), ("ABS", 1), ("NEG", 1), ("AND", 2), ("OR", 2), ("XOR", 2),
    ("NOT", 1), ("SHL", 2), ("SHR", 2), ("SETcc", 4), ("SEL", 3), ("MOV", 2), ("MOV_IMM", 3),
    ("MOV_SREG", 2), ("CVT", 6), ("ReduceAdd", 1), ("ReduceMin", 1), ("ReduceMax", 1),
    ("ReduceMul", 1), ("EXP", 1), ("LOG", 1), ("LOG2", 1), ("LOG10", 1), ("SQRT", 1),
    ("RSQRT", 1), ("SIN", 1), ("COS", 1), ("TAN", 1), ("TANH", 1), ("SIGMOID", 1), ("POW", 1),
    ("ClsGet", 1), ("MIRROR", 1), ("UnityTest", 1), ("NbrCount", 1), ("NbrGet", 1),
    ("ResAccum", 1), ("PhaseGet", 1), ("PhaseAdv", 1), ("BoundMap", 1), ("MemFence", 1),
)
ARITH_ALL = tuple(v for v, _ in ARITH_OPS)
ARITH_COMMON = tuple(v for v, w in ARITH_OPS for _ in range(w) if w > 1)
for _v, _w in ARITH_OPS:                 # every generated variant is in the ISA table
    assert _v in SPEC_BY_VARIANT, _v

# Fault kinds of the faulting family (the value stored in the per-lane kinds array).
FAULT_KINDS = ("div0", "oob", "oob_neg", "bad_handle", "uninit_reg", "type_mismatch",
               "uninit_pred", "shared_oob", "misaligned", "shared_misaligned", "bad_class",
               "bad_page", "underflow", "overflow", "step_limit", "oob_store", "pool_oob")


def _u(v: int) -> int:
    return v & (2**64 - 1)


def _offset(v: int) -> str:
    """How fault messages print a u64 offset (with its negative reading if the top bit is set)."""
    v = _u(v)
    return f"{v} ({v - 2**64})" if v >= 2**63 else str(v)


class NoRegister(Exception):
    """No register can take a value of the wanted type here (the item is abandoned; what it
    already emitted is valid code)."""


@dataclass
class Buf:
    """A piece of code: instructions and labels bound to indices in it."""
    name: str
    ins: List[Instruction] = field(default_factory=list)
    labels: Dict[str, int] = field(default_factory=dict)


@dataclass
class Sub:
    label: str
    vals: Dict[int, Tuple[DType, bool]]
    pvals: Set[int]
    clobber: Set[int]
    pclobber: Set[int]
    cost: int


class Region:
    """Static state of the code being generated (main or one subroutine)."""

    def __init__(self, buf: Buf, regs, preds, counters, is_main: bool):
        self.buf = buf
        self.regs = tuple(regs)
        self.preds = tuple(preds)
        self.counters = tuple(counters)
        self.is_main = is_main
        self.vals: Dict[int, Tuple[DType, bool]] = {}
        self.pvals: Set[int] = set()
        self.protect: List[Dict[int, Tuple[DType, bool]]] = []   # loop-entry states
        self.loop_depth = 0
        self.if_depth = 0
        self.mult = 1            # upper bound of executions of the current point per lane
        self.cost = 0            # upper bound of the steps of one lane through this region
        self.calls: Set[int] = set()   # subroutines called (indices)


@dataclass
class FaultSite:
    kind: str
    cls: type
    pc_ref: Tuple[Buf, int]
    message: str


@dataclass
class Features:
    control: bool = False
    calls: bool = False
    exits: bool = False
    memory: bool = False
    shared: bool = False
    atomics: bool = False
    faulting: bool = False
    items: Tuple[int, int] = (6, 14)      # number of top-level items
    max_depth: int = 2                    # loop / if nesting
    isa11: bool = False                   # ISA 1.1 (§12): see tests/test_isa11_differential.py


class Case:
    """A generated test case: program, launch shape and inputs (a plain class, so that
    hypothesis prints it with the short repr below)."""
    program: Program
    grid: Tuple[int, int, int]
    block: Tuple[int, int, int]
    shared_memory: int
    fields: List[Tuple[str, DType, bool]]          # output slot fields: ("r"|"p", type, exact)
    slot: int
    inp: bytes
    phi: bytes
    hist_sites: List[Tuple[int, DType]]            # (byte offset, type) regions of NBINS
    kinds: Optional[bytes]
    max_steps: int
    sites: Dict[int, FaultSite]                    # kind code -> site

    _NAMES = ("program", "grid", "block", "shared_memory", "fields", "slot", "inp", "phi",
              "hist_sites", "kinds", "max_steps", "sites")

    def __init__(self, *args):
        for name, value in zip(self._NAMES, args, strict=True):
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"Case(grid={self.grid}, block={self.block}, {len(self.program)} instructions)"

    @property
    def lanes_per_block(self) -> int:
        return self.block[0] * self.block[1] * self.block[2]

    @property
    def nlanes(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2] * self.lanes_per_block


class Gen:
    """Draws a valid program (see the module docstring) with hypothesis's ``draw``."""

    def __init__(self, draw, feat: Features, grid, block):
        self.draw = draw
        self.feat = feat
        self.grid = grid
        self.block = block
        self.nl = block[0] * block[1] * block[2]
        self.nlanes = self.nl * grid[0] * grid[1] * grid[2]
        self.nlabel = 0
        self.tails: List[Buf] = []
        self.subs: List[Sub] = []
        self.hist_sites: List[Tuple[int, DType]] = []
        self.shared_hist_sites = 0
        self.shared_size = 0
        self.pinned: Set[int] = set()
        self.making = 0
        self.sites: Dict[int, FaultSite] = {}
        self.pending_sites: List[int] = []
        self.fault_regs = list(FAULT_REGS)
        self.fault_preds = list(FAULT_PREDS)
        self.r: Region = Region(Buf("main"), MAIN_REGS, MAIN_PREDS, MAIN_COUNTERS, True)
        self.sregs = list(SReg) if feat.isa11 else SREGS_10

    # ---- drawing helpers (shrink towards the first choice / small numbers)

    def ch(self, seq):
        seq = list(seq)
        return seq[self.draw(st.integers(0, len(seq) - 1))]

    def num(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def coin(self, percent: int) -> bool:
        """True with about ``percent`` % probability (shrinks to False)."""
        return self.draw(st.integers(0, 99)) >= 100 - percent

    def int_bits(self) -> int:
        if self.coin(60):
            return self.ch(INT_SPECIALS)
        return self.draw(st.integers(0, 2**64 - 1))

    def float_bits(self, ty: DType) -> int:
        k = self.num(0, 9)
        if k < 5:
            return self.ch(FLOAT_SPECIALS[ty])
        if k < 8:
            x = self.draw(st.integers(-300, 300)) / self.ch([1, 2, 3, 8, 10, 1000])
            return float_bits(ty, x)
        return self.draw(st.integers(0, 2**ty.bits - 1))

    def imm(self, ty: DType) -> int:
        if ty.is_int:
            return self.int_bits()
        bits = self.float_bits(ty)
        if ty.bits < 64 and self.coin(10):          # MOV_IMM keeps the low w bits only
            bits |= self.num(1, 255) << ty.bits
        return bits

    # ---- emission

    def emit(self, variant: str, **fields) -> int:
        ins = Instruction(variant, **fields)
        self.r.buf.ins.append(ins)
        self.r.cost += self.r.mult
        return len(self.r.buf.ins) - 1

    def new_label(self, stem: str) -> str:
        self.nlabel += 1
        return f"{stem}_{self.nlabel}"

    def label(self, name: str, buf: Optional[Buf] = None) -> None:
        buf = buf or self.r.buf
        buf.labels[name] = len(buf.ins)

    # ---- register state

    def writable(self, reg: int, ty: DType, exact: bool) -> bool:
        for m in self.r.protect:
            if reg in m:
                t, e = m[reg]
                if t != ty or (e and not exact):
                    return False
        return True

    def dst(self, ty: DType, exact: bool = True, allow_pinned: bool = False) -> int:
        ok = [r for r in self.r.regs if self.writable(r, ty, exact) and
              (allow_pinned or r not in self.pinned)]
        fresh = [r for r in ok if r not in self.r.vals]
        same = [r for r in ok if r in self.r.vals and self.r.vals[r][0] == ty]
        k = self.num(0, 9)
        if fresh and (k < 6 or not ok):
            return fresh[0] if self.coin(70) else self.ch(fresh)
        if same and k < 8:
            return self.ch(same)
        if ok:
            return self.ch(ok)
        raise NoRegister()     # rare: every register is protected by a loop with another type

    def put(self, reg: int, ty: DType, exact: bool) -> None:
        self.r.vals[reg] = (ty, exact or not ty.is_float)

    def exact(self, reg: int) -> bool:
        return self.r.vals[reg][1]

    def src(self, ty: DType) -> int:
        cands = sorted(r for r, (t, _) in self.r.vals.items() if t == ty)
        if cands and self.num(0, 9) < 8:
            r = self.ch(cands)
        else:
            r = self.make(ty)
        self.pinned.add(r)
        return r

    def make(self, ty: DType) -> int:
        """Emit code giving a register of type ty a (preferably lane-dependent) value."""
        how = self.num(0, 5)
        others = sorted(r for r, (t, _) in self.r.vals.items() if t != ty)
        if how in (1, 2) and others:
            s = self.ch(others)
            self.pinned.add(s)
            st_, e = self.r.vals[s]
            ex = ty.is_int or st_.is_int
            d = self.dst(ty, ex)
            self.emit("CVT", src_ty=st_, dst_ty=ty, dst=d, src=s)
            self.put(d, ty, ex)
            return d
        if how == 3 and ty in (DType.U32, DType.U64):
            sreg = self.ch([s for s in self.sregs if s.dtype == ty])
            d = self.dst(ty)
            self.emit("MOV_SREG", dst=d, sreg=sreg)
            self.put(d, ty, True)
            return d
        if how == 4:                  # f(global id): cvt, then maybe combined with a constant
            d = self.dst(ty, not ty.is_float)
            self.emit("CVT", src_ty=DType.U64, dst_ty=ty, dst=d, src=self.gid_reg())
            if self.coin(60):
                self.emit("MOV_IMM", ty=ty, dst=R_GID, value=self.imm(ty))
                self.emit(self.ch(["SUB", "MUL", "ADD"] + (["XOR"] if ty.is_int else [])),
                          ty=ty, dst=d, src1=d, src2=R_GID)
            self.put(d, ty, not ty.is_float)
            return d
        if how == 5 and self.making < 2:   # random bits from the read-only input buffer
            self.making += 1
            try:
                return self.load_input(ty)
            finally:
                self.making -= 1
        d = self.dst(ty)
        self.emit("MOV_IMM", ty=ty, dst=d, value=self.imm(ty))
        self.put(d, ty, True)
        return d

    def gid_reg(self) -> int:
        self.emit("MOV_SREG", dst=R_GID, sreg=SReg.GlobalId)
        return R_GID

    def pred(self) -> int:
        """An initialised predicate (computing one if needed)."""
        if not self.r.pvals or self.coin(20):
            self.op_SETcc("SETcc")
        return self.ch(sorted(self.r.pvals))

    def canon(self, reg: int) -> int:
        """A register with reg's value, inexact float NaNs replaced by the canonical NaN."""
        ty, exact = self.r.vals[reg]
        if exact:
            return reg
        self.emit("MOV_IMM", ty=ty, dst=R_CNAN, value=CANON_NAN[ty])
        self.emit("SETcc", ty=ty, cond=Cond.NE, dst=P_CANON, src1=reg, src2=reg)
        self.emit("SEL", ty=ty, dst=R_CAN, pred=P_CANON, src_true=R_CNAN, src_false=reg)
        return R_CAN

    def snapshot(self):
        return dict(self.r.vals), set(self.r.pvals)

    @staticmethod
    def meet(a, b):
        va, pa = a
        vb, pb = b
        vals = {r: (t, e and vb[r][1]) for r, (t, e) in va.items()
                if r in vb and vb[r][0] == t}
        return vals, pa & pb

    def restore(self, state) -> None:
        self.r.vals, self.r.pvals = dict(state[0]), set(state[1])

    # ---- operations (one method per variant family; `op_generic` for the simple ones)

    def gen_op(self) -> None:
        v = self.ch(ARITH_ALL if self.coin(60) else ARITH_COMMON)
        getattr(self, "op_" + v, self.op_generic)(v)
        self.pinned.clear()

    def op_generic(self, v: str) -> None:
        spec = SPEC_BY_VARIANT[v]
        names = [f.name for f in spec.fields]
        fields = {}
        ty = self.ch(sorted(spec.types)) if "ty" in names else None
        if ty is not None:
            fields["ty"] = ty
        exacts = []
        dst_f = None
        for f in spec.fields:
            if f.kind in ("reg", "regimm") and f.role == "r":
                t = ty if f.rtype == "ty" else f.rtype
                r = self.src(t)
                fields[f.name] = r
                exacts.append(self.exact(r))
            elif f.kind == "reg" and f.role == "w":
                dst_f = f
            elif f.kind in ("u8", "u16"):
                fields[f.name] = self.num(0, 255 if f.kind == "u8" else 2000)
            elif f.kind == "scope":
                fields[f.name] = self.ch(list(Scope))
        if dst_f is not None:
            t = ty if dst_f.rtype == "ty" else dst_f.rtype
            ex = (not t.is_float) or (v in ("ABS", "NEG", "MOV") and all(exacts))
            d = self.dst(t, ex, allow_pinned=True)
            fields[dst_f.name] = d
            self.emit(v, **fields)
            self.put(d, t, ex)
        else:
            self.emit(v, **fields)

    def op_DIV(self, v: str) -> None:
        ty = self.ch(ALL_TYPES)
        a, b = self.src(ty), self.src(ty)
        if ty.is_int:                              # never divide by zero: b | 1
            self.emit("MOV_IMM", ty=ty, dst=T0, value=1)
            self.emit("OR", ty=ty, dst=T1, src1=b, src2=T0)
            b = T1
        d = self.dst(ty, not ty.is_float, allow_pinned=True)
        self.emit(v, ty=ty, dst=d, src1=a, src2=b)
        self.put(d, ty, not ty.is_float)

    def op_REM(self, v: str) -> None:
        ty = self.ch(INTS)
        a, b = self.src(ty), self.src(ty)
        self.emit("MOV_IMM", ty=ty, dst=T0, value=1)
        self.emit("OR", ty=ty, dst=T1, src1=b, src2=T0)
        d = self.dst(ty, allow_pinned=True)
        self.emit(v, ty=ty, dst=d, src1=a, src2=T1)
        self.put(d, ty, True)

    def op_SETcc(self, v: str) -> None:
        ty = self.ch(ALL_TYPES)
        conds = list(Cond) if ty.is_int else [c for c in Cond if c < Cond.LTU]
        cond = self.ch(conds)
        a, b = self.src(ty), self.src(ty)
        p = self.ch(self.r.preds)
        self.emit("SETcc", ty=ty, cond=cond, dst=p, src1=a, src2=b)
        self.r.pvals.add(p)

    def op_SEL(self, v: str) -> None:
        ty = self.ch(ALL_TYPES)
        p = self.pred()
        a, b = self.src(ty), self.src(ty)
        ex = self.exact(a) and self.exact(b)
        d = self.dst(ty, ex, allow_pinned=True)
        self.emit("SEL", ty=ty, dst=d, pred=p, src_true=a, src_false=b)
        self.put(d, ty, ex)

    def op_MOV_IMM(self, v: str) -> None:
        ty = self.ch(ALL_TYPES)
        d = self.dst(ty)
        self.emit("MOV_IMM", ty=ty, dst=d, value=self.imm(ty))
        self.put(d, ty, True)

    def op_MOV_SREG(self, v: str) -> None:
        s = self.ch(self.sregs)
        d = self.dst(s.dtype)
        self.emit("MOV_SREG", dst=d, sreg=s)
        self.put(d, s.dtype, True)

    def op_CVT(self, v: str) -> None:
        st_, dt = self.ch(ALL_TYPES), self.ch(ALL_TYPES)
        s = self.src(st_)
        ex = dt.is_int or st_.is_int or (st_ == dt and self.exact(s))
        d = self.dst(dt, ex, allow_pinned=True)
        self.emit("CVT", src_ty=st_, dst_ty=dt, dst=d, src=s)
        self.put(d, dt, ex)

    def _reduce(self, v: str) -> None:
        ty = self.ch(ALL_TYPES)
        count = self.num(0, 5)
        srcs = [self.src(ty) for _ in range(count)]
        ex = not ty.is_float
        bases = [b for b in range(len(self.r.regs) - max(count, 1) + 1)
                 if all(self.writable(self.r.regs[b + i], ty, ex) and
                        self.r.regs[b + i] not in self.pinned and
                        self.r.regs[b + i] == self.r.regs[b] + i for i in range(count))]
        if count and not bases:
            return
        base = self.r.regs[self.ch(bases)] if count else self.ch(range(256))
        for i, s in enumerate(srcs):
            self.emit("MOV", ty=ty, dst=base + i, src=s)
            self.put(base + i, ty, self.exact(s))
        d = self.dst(ty, ex, allow_pinned=True)
        self.emit(v, ty=ty, dst=d, src_base=base, count=count)
        self.put(d, ty, ex)

    op_ReduceAdd = op_ReduceMin = op_ReduceMax = op_ReduceMul = _reduce

    def guarded(self, s: int, limit: int, into: int) -> int:
        """Emit into = s mod limit (a valid class or page); s: a u8 register."""
        self.emit("MOV_IMM", ty=DType.U8, dst=T0, value=limit)
        self.emit("REM", ty=DType.U8, dst=into, src1=s, src2=T0)
        return into

    def op_MIRROR(self, v: str) -> None:
        c = self.guarded(self.src(DType.U8), 96, T1)
        d = self.dst(DType.U8, allow_pinned=True)
        self.emit("MIRROR", dst=d, src=c)
        self.put(d, DType.U8, True)

    def op_NbrCount(self, v: str) -> None:
        c = self.guarded(self.src(DType.U8), 96, T1)
        d = self.dst(DType.U32, allow_pinned=True)
        self.emit("NbrCount", **{"class": c, "dst": d})
        self.put(d, DType.U32, True)

    def op_NbrGet(self, v: str) -> None:
        c = self.guarded(self.src(DType.U8), 96, T1)
        d = self.dst(DType.U8, allow_pinned=True)
        self.emit("NbrGet", **{"class": c, "index": self.num(0, 7), "dst": d})
        self.put(d, DType.U8, True)

    def op_BoundMap(self, v: str) -> None:
        s1, s2, b = self.src(DType.U8), self.src(DType.U8), self.src(DType.U8)
        c = self.guarded(s1, 96, T1)
        p = self.guarded(s2, 48, T2)
        d = self.dst(DType.U64, allow_pinned=True)
        self.emit("BoundMap", **{"class": c, "page": p, "byte": b, "dst": d})
        self.put(d, DType.U64, True)

    def op_ResAccum(self, v: str) -> None:
        # integer-valued f64 in [-128, 127]: sums are exact in any order
        ints = sorted(r for r, (t, _) in self.r.vals.items() if t.is_int)
        x = self.ch(ints) if ints else self.src(DType.I8)
        self.pinned.add(x)
        c = self.guarded(self.src(DType.U8), 96, T1)
        self.emit("CVT", src_ty=self.r.vals[x][0], dst_ty=DType.I8, dst=T2, src=x)
        self.emit("CVT", src_ty=DType.I8, dst_ty=DType.F64, dst=T3, src=T2)
        self.emit("ResAccum", **{"class": c, "value": T3})

    def op_UnityTest(self, v: str) -> None:
        p = self.ch(self.r.preds)
        eps = self.ch([0.5, 0.0, -1.0, 1e-300, float("inf"), float("nan")])
        self.emit("UnityTest", dst=p, epsilon=eps)
        self.r.pvals.add(p)

    # ---- memory

    def load_input(self, ty: DType, dst: Optional[int] = None) -> int:
        """Load ty from read-only memory (the input buffer or the prefilled boundary pool) at
        a lane-dependent or constant offset, through one of the address modes."""
        n = ty.size
        mode = self.num(0, 6)
        if mode <= 1:                                   # [r241 + rOff], lane-dependent
            x = self.src(DType.U64)
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=INB - n + 1)
            self.emit("REM", ty=DType.U64, dst=T1, src1=x, src2=T0)
            addr = RegisterIndirectComputed(R_IN, T1)
            variant, kw = "LDG", {}
        elif mode == 2:
            addr, variant, kw = RegisterIndirect(R_IN, self.num(0, INB - n)), "LDG", {}
        elif mode == 3:
            addr, variant, kw = BufferOffset(H_IN, self.num(0, INB - n)), "LDG", {}
        elif mode == 4:
            addr = PhiCoordinate(self.ch(PHI_CLASSES), self.num(0, 47), self.num(0, 255 - n))
            variant, kw = "LDG", {}
        elif mode == 5:                                 # class handle, lane-dependent offset
            x = self.src(DType.U64)
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=12288 - n + 1)
            self.emit("REM", ty=DType.U64, dst=T1, src1=x, src2=T0)
            self.emit("MOV_IMM", ty=DType.U64, dst=T2,
                      value=CLASS_HANDLE_BASE + self.ch(PHI_CLASSES))
            addr, variant, kw = RegisterIndirectComputed(T2, T1), "LDG", {}
        else:                                           # pool 0 = the boundary pool
            x = self.src(DType.U64)
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=PHI_BYTES - n + 1)
            self.emit("REM", ty=DType.U64, dst=T1, src1=x, src2=T0)
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=PHI_OFF)
            self.emit("ADD", ty=DType.U64, dst=T1, src1=T1, src2=T0)
            self.emit("MOV_IMM", ty=DType.U64, dst=T2, value=0)
            variant, kw = "PoolLoad", {"pool": T2, "offset": T1}
            addr = None
        # (never a pinned register: load_input also serves make() for another's operand)
        d = dst if dst is not None else self.dst(ty, True)
        if variant == "LDG":
            self.emit("LDG", ty=ty, dst=d, addr=addr)
        else:
            self.emit("PoolLoad", ty=ty, dst=d, **kw)
        self.put(d, ty, True)
        return d

    def scratch_access(self) -> None:
        """Store to / load from this lane's own SCR bytes of the scratch buffer or of the
        boundary pool (handle 0, pool 0)."""
        ty = self.ch(ALL_TYPES)
        k = self.num(0, SCR - ty.size)
        space = self.ch(["buffer", "boundary", "pool0"])
        store = self.coin(55)
        val = self.canon(self.src(ty)) if store else None
        self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=k)
        self.emit("ADD", ty=DType.U64, dst=T1, src1=R_BASE, src2=T0)
        h = R_SCRATCH if space == "buffer" else R_ZERO
        if store:
            if space == "pool0":
                self.emit("PoolStore", ty=ty, pool=R_ZERO, offset=T1, src=val)
            else:
                self.emit("STG", ty=ty, src=val, addr=RegisterIndirectComputed(h, T1))
            return
        d = self.dst(ty, True)
        if space == "pool0":
            self.emit("PoolLoad", ty=ty, pool=R_ZERO, offset=T1, dst=d)
        else:
            self.emit("LDG", ty=ty, dst=d, addr=RegisterIndirectComputed(h, T1))
        self.put(d, ty, True)

    def pool_item(self) -> None:
        """A lane-private pool: alloc, a few stores and loads, free."""
        size = self.num(8, 40)
        self.emit("PoolAlloc", size=size, dst=R_POOL)
        for _ in range(self.num(1, 4)):
            ty = self.ch(ALL_TYPES)
            k = self.num(0, size - ty.size)
            if self.coin(50):
                val = self.canon(self.src(ty))
                self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=k)
                self.emit("PoolStore", ty=ty, pool=R_POOL, offset=T0, src=val)
            else:
                self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=k)
                d = self.dst(ty, True)
                self.emit("PoolLoad", ty=ty, pool=R_POOL, offset=T0, dst=d)
                self.put(d, ty, True)
            self.pinned.clear()
        self.emit("PoolFree", handle=R_POOL)

    def atomic_site(self, shared: bool) -> Tuple[DType, AtomOp, int]:
        """One atomic on its own histogram region (NBINS 8-byte bins) with a commutative
        combination: integer ops, float min/max, float add of small integers (exact sums), or
        exch / cas of one value that every lane uses. Old values go to a temporary."""
        ty = self.ch(sorted(T_WIDE))
        ops = [AtomOp.ADD, AtomOp.MIN, AtomOp.MAX, AtomOp.EXCH, "cas"]
        if ty in T_WIDE_INT:
            ops += [AtomOp.AND, AtomOp.OR, AtomOp.XOR]
        op = self.ch(ops)
        if shared:
            base = self.nl * 8 + 8 * NBINS * self.shared_hist_sites
            self.shared_hist_sites += 1
        else:
            base = 8 * NBINS * len(self.hist_sites)
            self.hist_sites.append((base, ty))
        mode = self.num(0, 2) if not shared else 0
        # 1. every source register first (src may emit code using the temporaries)
        x = self.src(DType.U64) if mode == 0 else None
        small = None
        val = None
        if ty.is_float and op == AtomOp.ADD:
            ints = sorted(r for r, (t, _) in self.r.vals.items() if t.is_int)
            small = self.ch(ints) if ints else self.src(DType.I8)
            self.pinned.add(small)
        elif op not in (AtomOp.EXCH, "cas"):
            val = self.src(ty)
        # 2. then the temporaries
        if mode == 0:
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=NBINS)
            self.emit("REM", ty=DType.U64, dst=T1, src1=x, src2=T0)
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=8)
            self.emit("MUL", ty=DType.U64, dst=T1, src1=T1, src2=T0)
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=base)
            self.emit("ADD", ty=DType.U64, dst=T1, src1=T1, src2=T0)
            addr = RegisterIndirectComputed(self.num(0, 255) if shared else R_HIST, T1)
        elif mode == 1:
            addr = RegisterIndirect(R_HIST, base + 8 * self.num(0, NBINS - 1))
        else:
            addr = BufferOffset(H_HIST, base + 8 * self.num(0, NBINS - 1))
        if small is not None:
            self.emit("CVT", src_ty=self.r.vals[small][0], dst_ty=DType.I8, dst=T3, src=small)
            self.emit("CVT", src_ty=DType.I8, dst_ty=ty, dst=T3, src=T3)
            val = T3
        elif op in (AtomOp.EXCH, "cas"):
            self.emit("MOV_IMM", ty=ty, dst=T3, value=self.imm(ty))   # the same for all lanes
            val = T3
        if op == "cas":
            self.emit("MOV_IMM", ty=ty, dst=T2, value=0)
            self.emit("ATOMS_CAS" if shared else "ATOM_CAS", ty=ty, dst=T2, addr=addr,
                      cmp=T2, src=val)
        else:
            self.emit("ATOMS" if shared else "ATOM", op=op, ty=ty, dst=T2, addr=addr, src=val)
        return ty, op, base

    def shared_round(self) -> None:
        """Write own slot; barrier; read a neighbour's slot (any type, any sub-offset);
        optionally a shared-atomic histogram; barrier."""
        ty = self.ch(ALL_TYPES)
        val = self.canon(self.src(ty))
        self.emit("STS", ty=ty, src=val, addr=RegisterIndirectComputed(self.num(0, 255), R_SLOT))
        bar = self.num(0, 3)
        hist = self.coin(30)
        if hist:
            hty, hop, hbase = self.atomic_site(shared=True)
        self.emit("BarSync", id=bar)
        lty = self.ch(ALL_TYPES)
        j = self.num(0, 8 - lty.size)
        nb = self.num(0, self.nl - 1)
        self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=nb)
        self.emit("ADD", ty=DType.U64, dst=T1, src1=R_LL, src2=T0)
        self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=self.nl)
        self.emit("REM", ty=DType.U64, dst=T1, src1=T1, src2=T0)
        self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=8)
        self.emit("MUL", ty=DType.U64, dst=T1, src1=T1, src2=T0)
        self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=j)
        self.emit("ADD", ty=DType.U64, dst=T1, src1=T1, src2=T0)
        d = self.dst(lty, True)
        self.emit("LDS", ty=lty, dst=d, addr=RegisterIndirectComputed(self.num(0, 255), T1))
        self.put(d, lty, True)
        if self.coin(30):                          # everyone reads one fixed slot
            lty2 = self.ch(ALL_TYPES)
            off = 8 * self.num(0, self.nl - 1) + self.num(0, 8 - lty2.size)
            self.emit("MOV_IMM", ty=DType.U64, dst=T2, value=0)   # [rB + off]: rB + off (§12.2.3)
            addr = self.ch([BufferOffset(self.num(0, 9), off), RegisterIndirect(T2, off)]
                           + ([PhiCoordinate(0, off // 256, off % 256)] if off < 12288 else []))
            d = self.dst(lty2, True)
            self.emit("LDS", ty=lty2, dst=d, addr=addr)
            self.put(d, lty2, True)
        if hist:                                   # read bin (lane % NBINS)
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=NBINS)
            self.emit("REM", ty=DType.U64, dst=T1, src1=R_LL, src2=T0)
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=8)
            self.emit("MUL", ty=DType.U64, dst=T1, src1=T1, src2=T0)
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=hbase)
            self.emit("ADD", ty=DType.U64, dst=T1, src1=T1, src2=T0)
            d = self.dst(hty, True)
            self.emit("LDS", ty=hty, dst=d, addr=RegisterIndirectComputed(R_SLOT, T1))
            self.put(d, hty, not (hty.is_float and hop in (AtomOp.MIN, AtomOp.MAX)))
        self.emit("BarSync", id=bar if self.coin(70) else self.num(0, 3))

    # ---- control flow

    def branch_pred(self) -> int:
        """A predicate computed from lane ids (or, sometimes, an existing data predicate)."""
        if self.r.pvals and self.coin(20):
            return self.ch(sorted(self.r.pvals))
        src = self.ch(["lane.x", "gid", "lane.y", "block.x", "parity"])
        if src == "gid":
            self.emit("MOV_SREG", dst=T0, sreg=SReg.GlobalId)
            self.emit("MOV_IMM", ty=DType.U64, dst=T1, value=self.num(0, self.nlanes))
            ty = DType.U64
        elif src == "parity":
            self.emit("MOV_SREG", dst=T0, sreg=SReg.LaneX)
            self.emit("MOV_IMM", ty=DType.U32, dst=T1, value=self.ch([1, 2, 3]))
            self.emit("AND", ty=DType.U32, dst=T0, src1=T0, src2=T1)
            self.emit("MOV_IMM", ty=DType.U32, dst=T1, value=0)
            ty = DType.U32
        else:
            sreg = {"lane.x": SReg.LaneX, "lane.y": SReg.LaneY, "block.x": SReg.BlockX}[src]
            ext = {"lane.x": self.block[0], "lane.y": self.block[1], "block.x": self.grid[0]}[src]
            self.emit("MOV_SREG", dst=T0, sreg=sreg)
            self.emit("MOV_IMM", ty=DType.U32, dst=T1, value=self.num(0, ext))
            ty = DType.U32
        cond = self.ch([Cond.LT, Cond.GE, Cond.EQ, Cond.NE, Cond.GT, Cond.LE, Cond.LTU])
        self.emit("SETcc", ty=ty, cond=cond, dst=P_BRANCH, src1=T0, src2=T1)
        return P_BRANCH

    def gen_if(self) -> None:
        p = self.branch_pred()
        skip = self.new_label("skip")
        self.emit("BRA", target=skip, pred=p)
        before = self.snapshot()
        self.r.if_depth += 1
        self.gen_block(self.num(1, 4))
        self.r.if_depth -= 1
        self.label(skip)
        self.restore(self.meet(before, self.snapshot()))

    def gen_if_else(self) -> None:
        p = self.branch_pred()
        els, end = self.new_label("else"), self.new_label("endif")
        self.emit("BRA", target=els, pred=p)
        before = self.snapshot()
        self.r.if_depth += 1
        self.gen_block(self.num(1, 3))
        self.emit("BRA", target=end, pred=None)
        then = self.snapshot()
        self.restore(before)
        self.label(els)
        self.gen_block(self.num(1, 3))
        self.r.if_depth -= 1
        self.label(end)
        self.restore(self.meet(then, self.snapshot()))

    def _loop_body(self, iterations: int) -> None:
        self.r.protect.append(dict(self.r.vals))
        self.r.loop_depth += 1
        old = self.r.mult
        self.r.mult *= iterations
        self.gen_block(self.num(1, 4))
        self.r.mult = old
        self.r.loop_depth -= 1
        self.r.protect.pop()

    def gen_loop(self) -> None:
        """LOOP rC, @top at the end of the body (do-while: count + 1 runs)."""
        c, _ = self.r.counters[self.r.loop_depth]
        if self.coin(50):
            self.emit("MOV_IMM", ty=DType.U32, dst=c, value=self.num(0, 3))
        else:                                        # lane-dependent count in 0..3
            self.emit("MOV_SREG", dst=T0, sreg=self.ch([SReg.LaneX, SReg.GlobalId]))
            if self.r.buf.ins[-1].sreg == SReg.GlobalId:
                self.emit("CVT", src_ty=DType.U64, dst_ty=DType.U32, dst=T0, src=T0)
            self.emit("MOV_IMM", ty=DType.U32, dst=T1, value=3)
            self.emit("AND", ty=DType.U32, dst=c, src1=T0, src2=T1)
        top = self.new_label("loop")
        self.label(top)
        self._loop_body(4)
        self.emit("LOOP", count=c, body=top)

    def gen_bra_loop(self) -> None:
        """i = 0; top: body; i += 1; if i < n goto top (n in 1..3, maybe lane-dependent)."""
        c, lim = self.r.counters[self.r.loop_depth]
        self.emit("MOV_IMM", ty=DType.U32, dst=c, value=0)
        if self.coin(50):
            self.emit("MOV_IMM", ty=DType.U32, dst=lim, value=self.num(0, 3))
        else:
            self.emit("MOV_SREG", dst=T0, sreg=SReg.LaneX)
            self.emit("MOV_IMM", ty=DType.U32, dst=T1, value=3)
            self.emit("REM", ty=DType.U32, dst=lim, src1=T0, src2=T1)
        top = self.new_label("top")
        self.label(top)
        self._loop_body(3)
        self.emit("MOV_IMM", ty=DType.U32, dst=T0, value=1)
        self.emit("ADD", ty=DType.U32, dst=c, src1=c, src2=T0)
        self.emit("SETcc", ty=DType.U32, cond=Cond.LT, dst=P_LOOP, src1=c, src2=lim)
        self.emit("BRA", target=top, pred=P_LOOP)

    def gen_exit(self) -> None:
        p = self.branch_pred()
        cont = self.new_label("cont")
        self.emit("BRA", target=cont, pred=p)
        self.emit("EXIT")
        self.label(cont)

    def gen_call(self, allowed: List[int]) -> None:
        k = self.ch(allowed)
        sub = self.subs[k]
        self.emit("CALL", target=sub.label)
        self.r.cost += self.r.mult * sub.cost
        for r in sub.clobber:
            self.r.vals.pop(r, None)
        self.r.pvals -= sub.pclobber
        self.r.vals.update(sub.vals)
        self.r.pvals |= sub.pvals
        self.r.calls.add(k)

    def gen_sub(self, k: int) -> None:
        buf = Buf(f"sub{k}")
        base = 160 + 13 * k
        outer = self.r
        self.r = Region(buf, range(base, base + 11), (FAULT_PREDS[k],),
                        ((base + 11, base + 12),), False)
        label = f"sub_{k}"
        self.label(label)
        self.gen_block(self.num(1, 4))
        self.emit("RET")
        reg = self.r
        clobber = set(range(base, base + 13))
        pclobber = {FAULT_PREDS[k]}
        for j in reg.calls:
            clobber |= self.subs[j].clobber
            pclobber |= self.subs[j].pclobber
        self.subs.append(Sub(label, dict(reg.vals), set(reg.pvals), clobber, pclobber, reg.cost))
        self.tails.append(buf)
        self.r = outer

    def gen_item(self) -> None:
        f, r = self.feat, self.r
        opts = ["op"] * 6
        if f.memory:
            opts += ["load", "scratch", "scratch", "pool"]
        if f.atomics:
            opts += ["atomic"] * 4
        if f.control and r.loop_depth + r.if_depth < self.feat.max_depth:
            opts += ["if", "ifelse"]
            if r.loop_depth < len(r.counters):
                opts += ["loop", "braloop"]
        if f.exits and not f.faulting:
            opts += ["exit"]
        callable_subs = list(range(len(self.subs))) if r.is_main else \
            [j for j in range(len(self.subs))]
        if f.calls and callable_subs:
            opts += ["call"]
        if f.shared and r.is_main and r.loop_depth == 0 and r.if_depth == 0:
            opts += ["shared", "shared"]
        if self.pending_sites and r.is_main and r.if_depth == 0:
            opts += ["site"] * 3
        what = self.ch(opts)
        try:
            self._gen_item(what, callable_subs)
        except NoRegister:
            pass
        self.pinned.clear()

    def _gen_item(self, what: str, callable_subs: List[int]) -> None:
        if what == "op":
            self.gen_op()
        elif what == "load":
            self.load_input(self.ch(ALL_TYPES))
        elif what == "scratch":
            self.scratch_access()
        elif what == "pool":
            self.pool_item()
        elif what == "atomic":
            self.atomic_site(shared=False)
        elif what == "if":
            self.gen_if()
        elif what == "ifelse":
            self.gen_if_else()
        elif what == "loop":
            self.gen_loop()
        elif what == "braloop":
            self.gen_bra_loop()
        elif what == "exit":
            self.gen_exit()
        elif what == "call":
            self.gen_call(callable_subs)
        elif what == "shared":
            self.shared_round()
        elif what == "site":
            code = self.pending_sites.pop(0)
            try:
                self.fault_site(code)
            except NoRegister:           # not placed: place it later (at the end of main)
                self.pending_sites.append(code)
                raise

    def gen_block(self, n: int) -> None:
        for _ in range(n):
            self.gen_item()

    # ---- faults (faulting family): kind code k faults in exactly the lanes whose kinds[gid]
    # is k, at the instruction recorded in self.sites[k]

    def _site(self, code: int, kind: str, cls: type, pc: int, message: str,
              buf: Optional[Buf] = None) -> None:
        self.sites[code] = FaultSite(kind, cls, (buf or self.r.buf, pc), message)

    def fault_site(self, code: int) -> None:
        kind = FAULT_KINDS[code - 1]
        self.emit("MOV_IMM", ty=DType.U8, dst=T0, value=code)
        self.emit("SETcc", ty=DType.U8, cond=Cond.EQ, dst=P_DISPATCH, src1=R_KIND, src2=T0)
        p = P_DISPATCH
        if kind == "div0":
            ty = self.ch(INTS)
            a = self.src(ty)
            self.emit("MOV_IMM", ty=ty, dst=T0, value=0)
            self.emit("MOV_IMM", ty=ty, dst=T1, value=self.num(1, 100))
            self.emit("SEL", ty=ty, dst=T1, pred=p, src_true=T0, src_false=T1)
            v = self.ch(["DIV", "REM"])
            pc = self.emit(v, ty=ty, dst=T2, src1=a, src2=T1)
            self._site(code, kind, hg.DivisionByZero, pc, "division by zero")
        elif kind == "oob":
            ty = self.ch(ALL_TYPES)
            bad = self.ch([INB - ty.size + 1, INB, INB + 1000, 2**63, 2**64 - 1,
                           2**64 - max(1, ty.size - 1)])      # the last ones: o + n overflows
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=bad)
            self.emit("MOV_IMM", ty=DType.U64, dst=T1, value=self.num(0, INB - ty.size))
            self.emit("SEL", ty=DType.U64, dst=T1, pred=p, src_true=T0, src_false=T1)
            d = self.dst(ty, True)
            pc = self.emit("LDG", ty=ty, dst=d, addr=RegisterIndirectComputed(R_IN, T1))
            self.put(d, ty, True)
            self._site(code, kind, hg.OutOfBounds, pc,
                       f"out of bounds: {ty.size} bytes at offset {_offset(bad)} of buffer "
                       f"{H_IN} (size {INB})")
        elif kind == "oob_store":                 # the other lanes store to their own slot
            ty = self.ch(ALL_TYPES)
            val = self.canon(self.src(ty))
            size = self.nlanes * SCR
            bad = self.ch([size - ty.size + 1, size, 2**64 - 1, 2**63 + 5])
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=bad)
            self.emit("MOV_IMM", ty=DType.U64, dst=T1, value=self.num(0, SCR - ty.size))
            self.emit("ADD", ty=DType.U64, dst=T1, src1=T1, src2=R_BASE)
            self.emit("SEL", ty=DType.U64, dst=T1, pred=p, src_true=T0, src_false=T1)
            pc = self.emit("STG", ty=ty, src=val, addr=RegisterIndirectComputed(R_SCRATCH, T1))
            self._site(code, kind, hg.OutOfBounds, pc,
                       f"out of bounds: {ty.size} bytes at offset {_offset(bad)} of buffer "
                       f"{H_SCRATCH} (size {size})")
        elif kind == "pool_oob":                  # pool 0 = the boundary pool
            ty = self.ch(ALL_TYPES)
            size = 96 * 48 * 256
            bad = self.ch([size - ty.size + 1, size, 2**64 - 1])
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=bad)
            self.emit("MOV_IMM", ty=DType.U64, dst=T1, value=PHI_OFF + self.num(0, 100))
            self.emit("SEL", ty=DType.U64, dst=T1, pred=p, src_true=T0, src_false=T1)
            d = self.dst(ty, True)
            pc = self.emit("PoolLoad", ty=ty, pool=R_ZERO, offset=T1, dst=d)
            self.put(d, ty, True)
            self._site(code, kind, hg.OutOfBounds, pc,
                       f"out of bounds: {ty.size} bytes at offset {_offset(bad)} of pool 0 "
                       f"(size {size})")
        elif kind == "oob_neg":
            ty = self.ch(ALL_TYPES)
            off = -self.num(1, 2**31)
            out = Buf(self.new_label("fneg"))
            self.emit("BRA", target=out.name, pred=p)
            out.labels[out.name] = 0
            out.ins.append(Instruction("LDG", ty=ty, dst=T2, addr=RegisterIndirect(R_IN, off)))
            out.ins.append(Instruction("EXIT"))
            self.tails.append(out)
            self._site(code, kind, hg.OutOfBounds, 0,
                       f"out of bounds: {ty.size} bytes at offset {_offset(off)} of buffer {H_IN} "
                       f"(size {INB})", out)
        elif kind == "bad_handle":
            ty = self.ch(ALL_TYPES)
            bad = self.ch([999, H_KINDS + 1, CLASS_HANDLE_BASE - 1, 2**63])
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=bad)
            self.emit("MOV", ty=DType.U64, dst=T1, src=R_IN)
            self.emit("SEL", ty=DType.U64, dst=T1, pred=p, src_true=T0, src_false=T1)
            pc = self.emit("LDG", ty=ty, dst=T2, addr=RegisterIndirect(T1, self.num(0, 8)))
            self._site(code, kind, hg.InvalidHandle, pc, f"invalid buffer handle: {bad}")
        elif kind == "uninit_reg":
            rf = self.fault_regs.pop(0)
            ty = self.ch(ALL_TYPES)
            skip = self.new_label("noinit")
            self.emit("BRA", target=skip, pred=p)
            self.emit("MOV_IMM", ty=ty, dst=rf, value=self.imm(ty))
            self.label(skip)
            v = "ADD" if self.coin(50) else "MOV"
            pc = (self.emit("ADD", ty=ty, dst=T2, src1=rf, src2=rf) if v == "ADD" else
                  self.emit("MOV", ty=ty, dst=T2, src=rf))
            self._site(code, kind, hg.UninitializedRegister, pc, f"uninitialized register: r{rf}")
        elif kind == "type_mismatch":
            rf = self.fault_regs.pop(0)
            t1, t2 = self.ch(ALL_TYPES), self.ch(ALL_TYPES)
            if t1 == t2:
                t2 = ALL_TYPES[(t1 + 1) % 12]
            alt, join = self.new_label("alt"), self.new_label("join")
            self.emit("BRA", target=alt, pred=p)
            self.emit("MOV_IMM", ty=t1, dst=rf, value=self.imm(t1))
            self.emit("BRA", target=join, pred=None)
            self.label(alt)
            self.emit("MOV_IMM", ty=t2, dst=rf, value=self.imm(t2))
            self.label(join)
            a = self.src(t1)
            pc = self.emit("SUB", ty=t1, dst=T2, src1=a, src2=rf)
            self._site(code, kind, hg.TypeMismatch, pc,
                       f"type mismatch: r{rf}: expected {t1.text}, got {t2.text}")
        elif kind == "uninit_pred":
            pf = self.fault_preds.pop(0)
            skip = self.new_label("nopred")
            self.emit("BRA", target=skip, pred=p)
            if self.coin(50):
                self.emit("MOV_SREG", dst=T0, sreg=SReg.LaneX)
                self.emit("SETcc", ty=DType.U32, cond=Cond.EQ, dst=pf, src1=T0, src2=T0)
            else:
                self.emit("UnityTest", dst=pf, epsilon=0.0)
            self.label(skip)
            if self.coin(50):
                after = self.new_label("after")
                pc = self.emit("BRA", target=after, pred=pf)
                self.label(after)
            else:
                ty = self.ch(ALL_TYPES)
                a, b = self.src(ty), self.src(ty)
                pc = self.emit("SEL", ty=ty, dst=T2, pred=pf, src_true=a, src_false=b)
            self._site(code, kind, hg.UninitializedPredicate, pc, f"uninitialized predicate: p{pf}")
        elif kind in ("shared_oob", "shared_misaligned"):
            S = self.shared_size
            if kind == "shared_oob":
                ty = self.ch(ALL_TYPES)
                bad = self.ch([S - ty.size + 1, S, S + 64, 2**64 - 1])
                good = self.num(0, S - ty.size)
            else:
                ty = self.ch([DType.U32, DType.I64, DType.F32, DType.U64, DType.F64])
                bad = self.num(1, ty.size - 1)
                good = 0
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=bad)
            self.emit("MOV_IMM", ty=DType.U64, dst=T1, value=good)
            self.emit("SEL", ty=DType.U64, dst=T1, pred=p, src_true=T0, src_false=T1)
            addr = RegisterIndirectComputed(self.num(0, 255), T1)
            if kind == "shared_oob":
                pc = self.emit("LDS", ty=ty, dst=T2, addr=addr)
                msg = (f"shared memory out of bounds: {ty.size} bytes at offset "
                       f"{_offset(bad)} (size {S})")
                self._site(code, kind, hg.SharedOutOfBounds, pc, msg)
            else:                                     # atoms.max with 0: memory unchanged
                self.emit("MOV_IMM", ty=ty, dst=T3, value=0)
                pc = self.emit("ATOMS", op=AtomOp.MAX if ty.is_int else AtomOp.MIN, ty=ty,
                               dst=T2, addr=addr, src=T3)
                self._site(code, kind, hg.Misaligned, pc,
                           f"misaligned atomic: {ty.size} bytes at offset {bad} of shared memory")
        elif kind == "misaligned":
            ty = self.ch([DType.U32, DType.I32, DType.U64, DType.I64])
            bad = self.num(1, ty.size - 1) + 8 * self.num(0, NBINS - 2)
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=bad)
            self.emit("MOV_IMM", ty=DType.U64, dst=T1, value=8 * self.num(0, NBINS - 1))
            self.emit("SEL", ty=DType.U64, dst=T1, pred=p, src_true=T0, src_false=T1)
            self.emit("MOV_IMM", ty=ty, dst=T3, value=1)
            pc = self.emit("ATOM", op=AtomOp.ADD, ty=ty, dst=T2,
                           addr=RegisterIndirectComputed(R_HIST, T1), src=T3)
            self._site(code, kind, hg.Misaligned, pc,
                       f"misaligned atomic: {ty.size} bytes at offset {bad} of buffer {H_HIST}")
        elif kind in ("bad_class", "bad_page"):
            bad = self.num(96 if kind == "bad_class" else 48, 255)
            good = self.num(0, 47)
            self.emit("MOV_IMM", ty=DType.U8, dst=T0, value=bad)
            self.emit("MOV_IMM", ty=DType.U8, dst=T1, value=good)
            self.emit("SEL", ty=DType.U8, dst=T1, pred=p, src_true=T0, src_false=T1)
            self.emit("MOV_IMM", ty=DType.U8, dst=T3, value=good)
            if kind == "bad_page":
                pc = self.emit("BoundMap", **{"class": T3, "page": T1, "byte": T3, "dst": T2})
                msg = f"invalid coordinate: page {bad}"
            else:
                v = self.ch(["MIRROR", "NbrCount", "NbrGet", "ResAccum", "BoundMap"])
                if v == "MIRROR":
                    pc = self.emit("MIRROR", dst=T2, src=T1)
                elif v == "NbrCount":
                    pc = self.emit("NbrCount", **{"class": T1, "dst": T2})
                elif v == "NbrGet":
                    pc = self.emit("NbrGet", **{"class": T1, "index": 2, "dst": T2})
                elif v == "BoundMap":
                    pc = self.emit("BoundMap", **{"class": T1, "page": T3, "byte": T3, "dst": T2})
                else:
                    self.emit("MOV_IMM", ty=DType.F64, dst=T2, value=0)   # +0.0: no effect
                    pc = self.emit("ResAccum", **{"class": T1, "value": T2})
                msg = f"invalid coordinate: class {bad}"
            self._site(code, kind, hg.InvalidCoordinate, pc, msg)
        elif kind in ("underflow", "overflow"):
            out = Buf(self.new_label("f" + kind))
            self.emit("BRA", target=out.name, pred=p)
            out.labels[out.name] = 0
            out.ins.append(Instruction("RET") if kind == "underflow" else
                           Instruction("CALL", target=out.name))
            self.tails.append(out)
            if kind == "underflow":
                self._site(code, kind, hg.CallStackUnderflow, 0, "call stack underflow", out)
            else:
                self._site(code, kind, hg.CallStackOverflow, 0, "call stack overflow (depth 256)",
                           out)
        elif kind == "step_limit":
            spin = self.new_label("spin")
            self.label(spin)
            pc = self.emit("BRA", target=spin, pred=p)       # re-executes itself (§6.1)
            self._site(code, kind, hg.StepLimitExceeded, pc, "step limit exceeded")
        else:
            raise AssertionError(kind)

    # ---- the whole program

    def prologue(self) -> None:
        self.r.vals = {252: (DType.U32, True), 253: (DType.U32, True),
                       254: (DType.U32, True), 255: (DType.U64, True)}
        if self.feat.memory or self.feat.faulting:
            self.emit("MOV_SREG", dst=R_BASE, sreg=SReg.GlobalId)
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=SCR)
            self.emit("MUL", ty=DType.U64, dst=R_BASE, src1=R_BASE, src2=T0)
            self.emit("MOV_IMM", ty=DType.U64, dst=R_ZERO, value=0)
        if self.feat.shared:                   # lane linear index and its 8-byte shared slot
            self.emit("MOV_SREG", dst=T0, sreg=SReg.LaneZ)
            self.emit("MOV_SREG", dst=T1, sreg=SReg.BlockDimY)
            self.emit("MUL", ty=DType.U32, dst=T0, src1=T0, src2=T1)
            self.emit("MOV_SREG", dst=T1, sreg=SReg.LaneY)
            self.emit("ADD", ty=DType.U32, dst=T0, src1=T0, src2=T1)
            self.emit("MOV_SREG", dst=T1, sreg=SReg.BlockDimX)
            self.emit("MUL", ty=DType.U32, dst=T0, src1=T0, src2=T1)
            self.emit("MOV_SREG", dst=T1, sreg=SReg.LaneX)
            self.emit("ADD", ty=DType.U32, dst=T0, src1=T0, src2=T1)
            self.emit("CVT", src_ty=DType.U32, dst_ty=DType.U64, dst=R_LL, src=T0)
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=8)
            self.emit("MUL", ty=DType.U64, dst=R_SLOT, src1=R_LL, src2=T0)
        if self.feat.faulting:
            self.emit("MOV_SREG", dst=T0, sreg=SReg.GlobalId)
            self.emit("LDG", ty=DType.U8, dst=R_KIND, addr=RegisterIndirectComputed(R_KINDS, T0))
        # Seed values: per type, maybe random bits loaded from the input at a lane-dependent
        # offset (so that every lane computes with different, often extreme, values) and maybe
        # a MOV_IMM constant; plus values derived from the global id.
        self.emit("MOV_SREG", dst=R_GID, sreg=SReg.GlobalId)
        self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=2 * self.num(0, 50) + 1)
        self.emit("MUL", ty=DType.U64, dst=R_SEED, src1=R_GID, src2=T0)
        for ty in ALL_TYPES:
            if self.coin(65):
                self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=self.num(0, INB))
                self.emit("ADD", ty=DType.U64, dst=T1, src1=R_SEED, src2=T0)
                self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=INB - ty.size + 1)
                self.emit("REM", ty=DType.U64, dst=T1, src1=T1, src2=T0)
                d = self.dst(ty)
                self.emit("LDG", ty=ty, dst=d, addr=RegisterIndirectComputed(R_IN, T1))
                self.put(d, ty, True)
            if self.coin(30):
                d = self.dst(ty)
                self.emit("MOV_IMM", ty=ty, dst=d, value=self.imm(ty))
                self.put(d, ty, True)
        for _ in range(self.num(0, 2)):
            ty = self.ch(ALL_TYPES)
            d = self.dst(ty)
            self.emit("CVT", src_ty=DType.U64, dst_ty=ty, dst=d, src=self.gid_reg())
            self.put(d, ty, True)
            if self.coin(50):
                self.emit("MOV_IMM", ty=ty, dst=T0, value=self.imm(ty))
                d2 = self.dst(ty, not ty.is_float)
                self.emit("MUL", ty=ty, dst=d2, src1=d, src2=T0)
                self.put(d2, ty, not ty.is_float)
            self.pinned.clear()

    def epilogue(self) -> List[Tuple[str, DType, bool]]:
        vals, preds = sorted(self.r.vals.items()), sorted(self.r.pvals)
        fields = [("r", t, e) for _, (t, e) in vals] + [("p", DType.U8, True) for _ in preds]
        slot = 8 * max(1, len(fields))
        o, step, one, zero, b = EPI
        self.emit("MOV_SREG", dst=o, sreg=SReg.GlobalId)
        self.emit("MOV_IMM", ty=DType.U64, dst=step, value=slot)
        self.emit("MUL", ty=DType.U64, dst=o, src1=o, src2=step)
        self.emit("MOV_IMM", ty=DType.U64, dst=step, value=8)
        self.emit("MOV_IMM", ty=DType.U8, dst=one, value=1)
        self.emit("MOV_IMM", ty=DType.U8, dst=zero, value=0)
        for r, (t, _) in vals:
            self.emit("STG", ty=t, src=r, addr=RegisterIndirectComputed(R_OUT, o))
            self.emit("ADD", ty=DType.U64, dst=o, src1=o, src2=step)
        for p in preds:
            self.emit("SEL", ty=DType.U8, dst=b, pred=p, src_true=one, src_false=zero)
            self.emit("STG", ty=DType.U8, src=b, addr=RegisterIndirectComputed(R_OUT, o))
            self.emit("ADD", ty=DType.U64, dst=o, src1=o, src2=step)
        self.emit("EXIT")
        return fields

    def build(self) -> Tuple[Program, List[Tuple[str, DType, bool]], int, int]:
        f = self.feat
        if f.faulting:
            self.shared_size = self.num(16, 64)
        if f.calls:
            for k in range(self.num(1, 3)):
                self.gen_sub(k)
        self.prologue()
        self.gen_block(self.num(*f.items))
        while self.pending_sites:
            self.fault_site(self.pending_sites.pop(0))
        fields = self.epilogue()
        bufs = [self.r.buf] + self.tails
        ins: List[Instruction] = []
        labels: Dict[str, int] = {}
        start = {}
        for buf in bufs:
            start[id(buf)] = len(ins)
            for name, i in buf.labels.items():
                labels[name] = len(ins) + i
            ins.extend(buf.ins)
        for site in self.sites.values():
            buf, i = site.pc_ref
            site.pc_ref = (None, start[id(buf)] + i)
        shared = self.nl * 8 + 8 * NBINS * self.shared_hist_sites if f.shared else \
            self.shared_size
        return Program(ins, labels), fields, shared, self.r.cost


# ---------------------------------------------------------------------------------------------
# Strategies

def float_bits(ty: DType, x: float) -> int:
    if ty == DType.F64:
        return struct.unpack("<Q", struct.pack("<d", x))[0]
    f = np.float32(x)
    if ty == DType.F32:
        return int(f.view(np.uint32))
    if ty == DType.F16:
        return int(np.float16(f).view(np.uint16))
    return int(f.view(np.uint32)) >> 16


@st.composite
def launch_shapes(draw, max_lanes: int):
    bx = draw(st.integers(1, 64))
    by = draw(st.sampled_from([1, 1, 1, 2, 3, 4]))
    bz = draw(st.sampled_from([1, 1, 1, 1, 2]))
    while bx * by * bz > 64:
        bx = max(1, bx // 2)
    gx = draw(st.integers(1, 8))
    gy = draw(st.sampled_from([1, 1, 1, 2]))
    gz = draw(st.sampled_from([1, 1, 1, 1, 2]))
    while gx * gy * gz > 8:
        gx = max(1, gx // 2)
    while gx * gy * gz * bx * by * bz > max_lanes:
        if bx > 1:
            bx = max(1, bx // 2)
        elif gx > 1:
            gx = max(1, gx // 2)
        elif by > 1:
            by = 1
        else:
            gy = gz = bz = 1
    return (gx, gy, gz), (bx, by, bz)


def _input_bytes(seed: int, n: int) -> bytes:
    rng = np.random.default_rng(seed)
    data = bytearray(rng.integers(0, 256, n, dtype=np.uint8).tobytes())
    # plant special float patterns (NaNs with payloads, infinities, subnormals, -0)
    for ty in FLOATS:
        for bits in FLOAT_SPECIALS[ty]:
            if rng.random() < 0.3:
                at = int(rng.integers(0, n - ty.size + 1))
                data[at:at + ty.size] = bits.to_bytes(ty.size, "little")
    return bytes(data)


@st.composite
def cases(draw, feat: Features, max_lanes: int = 96, gen_cls=None):
    grid, block = draw(launch_shapes(max_lanes))
    gen = (gen_cls or Gen)(draw, feat, grid, block)
    nlanes = gen.nlanes
    kinds = None
    if feat.faulting:
        codes = draw(st.lists(st.integers(1, len(FAULT_KINDS)), min_size=1, max_size=4,
                              unique=True))
        gen.pending_sites = list(codes)
        faulting = draw(st.lists(st.integers(0, nlanes - 1), min_size=1, max_size=5, unique=True))
        if draw(st.integers(0, 9)) == 0:          # sometimes no lane faults at all
            faulting = []
        k = bytearray(nlanes)
        for lane in faulting:
            k[lane] = draw(st.sampled_from(codes))
        kinds = bytes(k)
    program, fields, shared, cost = gen.build()
    seed = draw(st.integers(0, 2**32 - 1))
    max_steps = cost + 300
    for site in gen.sites.values():
        if site.kind == "step_limit":
            site.message = f"step limit exceeded (max_steps={max_steps})"
    return Case(program, grid, block, shared, fields, 8 * max(1, len(fields)),
                _input_bytes(seed, INB), _input_bytes(seed + 1, PHI_BYTES),
                gen.hist_sites, kinds, max_steps,
                {code: gen.sites[code] for code in gen.sites})


# ---------------------------------------------------------------------------------------------
# Running and comparing

@dataclass
class Outcome:
    out: np.ndarray
    scratch: np.ndarray
    hist: np.ndarray
    boundary: np.ndarray
    resonance: Optional[np.ndarray]
    error: Optional[hg.ExecutionError]


def _dump(case: Case, engine: str, num_threads: int) -> None:
    """Debugging aid: HOLOGRAM_DUMP_CASE=path saves the case about to run (e.g. to reproduce a
    crash)."""
    import os
    import pickle
    path = os.environ.get("HOLOGRAM_DUMP_CASE")
    if path:
        with open(path, "wb") as f:
            pickle.dump({"json": case.program.to_json(), "engine": engine, "nt": num_threads,
                         **{k: getattr(case, k) for k in Case._NAMES if k != "program"
                            and k != "sites"}}, f)


def run_case(case: Case, engine: str, num_threads: int = 1) -> Outcome:
    _dump(case, engine, num_threads)
    be = hg.CpuBackend(num_threads=num_threads) if engine == "vm" else hg.ReferenceBackend()
    be.copy_to_buffer(0, case.phi, offset=PHI_OFF)
    out = np.zeros(case.nlanes * case.slot, np.uint8)
    scratch = np.zeros(case.nlanes * SCR, np.uint8)
    hist = np.zeros(max(8 * NBINS, 8 * NBINS * len(case.hist_sites)), np.uint8)
    params = {R_OUT: out, R_IN: case.inp, R_SCRATCH: scratch, R_HIST: hist}
    if case.kinds is not None:
        params[R_KINDS] = case.kinds
    resonance, error = None, None
    try:
        res = be.execute_program(case.program, hg.LaunchConfig(case.grid, case.block,
                                                               case.shared_memory),
                                 params, max_steps=case.max_steps, num_threads=num_threads)
        resonance = res.resonance
    except hg.ExecutionError as e:
        error = e
    return Outcome(out, scratch, hist, be.buffer_view(0).copy(), resonance, error)


def _is_nan(ty: DType, bits: np.ndarray) -> np.ndarray:
    exp_mask, man_mask = {DType.F16: (0x7C00, 0x3FF), DType.BF16: (0x7F80, 0x7F),
                          DType.F32: (0x7F800000, 0x7FFFFF),
                          DType.F64: (0x7FF0000000000000, 0xFFFFFFFFFFFFF)}[ty]
    return ((bits & exp_mask) == exp_mask) & ((bits & man_mask) != 0)


def _uint(ty: DType) -> str:
    return f"u{ty.size}"


def compare_typed(a: np.ndarray, b: np.ndarray, ty: DType, exact: bool, what: str,
                  ctx: Callable[[], str]) -> None:
    """a, b: uint8 arrays of n values of type ty (little-endian)."""
    ua = np.ascontiguousarray(a).reshape(-1).view("<" + _uint(ty)).astype(np.uint64)
    ub = np.ascontiguousarray(b).reshape(-1).view("<" + _uint(ty)).astype(np.uint64)
    same = ua == ub
    if ty.is_float and not exact:
        same |= _is_nan(ty, ua) & _is_nan(ty, ub)
    if not same.all():
        i = int(np.flatnonzero(~same)[0])
        raise AssertionError(f"{what}[{i}] ({ty.text}): {int(ua[i]):#x} != {int(ub[i]):#x}\n"
                             + ctx())


def describe(case: Case) -> str:
    return (f"grid={case.grid} block={case.block} shared={case.shared_memory} "
            f"max_steps={case.max_steps}\n{case.program.disassemble()}")


def error_key(e: Optional[hg.ExecutionError]):
    if e is None:
        return None
    return (type(e).__name__, e.global_lane_id, e.pc, e.message, e.block_idx, e.lane_idx,
            e.instruction, str(e))


def compare(case: Case, ref: Outcome, vm: Outcome, label: str, check_memory: bool = True) -> None:
    ctx = lambda: f"[{label}] " + describe(case)   # noqa: E731
    assert error_key(vm.error) == error_key(ref.error), \
        f"[{label}] errors differ:\n  vm:  {error_key(vm.error)}\n  ref: {error_key(ref.error)}\n" \
        + describe(case)
    lanes = case.nlanes
    if ref.error is not None:
        # blocks after the faulting one may be skipped (§7.6): compare the blocks up to it
        b = ref.error.global_lane_id // case.lanes_per_block
        lanes = (b + 1) * case.lanes_per_block
    out_a = ref.out.reshape(case.nlanes, case.slot)[:lanes]
    out_b = vm.out.reshape(case.nlanes, case.slot)[:lanes]
    for k, (kind, ty, exact) in enumerate(case.fields):
        sl = slice(8 * k, 8 * k + ty.size)
        compare_typed(np.ascontiguousarray(out_a[:, sl]), np.ascontiguousarray(out_b[:, sl]),
                      ty, exact, f"out field {k} ({kind}) of lanes", ctx)
    if not check_memory:
        return
    sa, sb = ref.scratch[:lanes * SCR], vm.scratch[:lanes * SCR]
    if not np.array_equal(sa, sb):
        i = int(np.flatnonzero(sa != sb)[0])
        raise AssertionError(f"scratch byte {i} (lane {i // SCR}): {sa[i]} != {sb[i]}\n" + ctx())
    ba, bb = ref.boundary[:lanes * SCR], vm.boundary[:lanes * SCR]
    if not np.array_equal(ba, bb):
        i = int(np.flatnonzero(ba != bb)[0])
        raise AssertionError(f"boundary byte {i}: {ba[i]} != {bb[i]}\n" + ctx())
    if ref.error is None:
        assert np.array_equal(ref.boundary, vm.boundary), "boundary pool differs\n" + ctx()
        for base, ty in case.hist_sites:
            n = 8 * NBINS
            ha = np.ascontiguousarray(ref.hist[base:base + n].reshape(NBINS, 8)[:, :ty.size])
            hb = np.ascontiguousarray(vm.hist[base:base + n].reshape(NBINS, 8)[:, :ty.size])
            compare_typed(ha, hb, ty, False, f"histogram at {base}", ctx)
        assert np.array_equal(ref.resonance, vm.resonance), \
            f"resonance differs: {ref.resonance} vs {vm.resonance}\n" + ctx()


def check_case(case: Case, expect_error: bool = False) -> Outcome:
    note(describe(case))
    ref = run_case(case, "reference")
    if not expect_error:
        assert ref.error is None, f"reference faulted: {ref.error}\n" + describe(case)
    for nt in (1, 2):
        vm = run_case(case, "vm", nt)
        compare(case, ref, vm, f"vm num_threads={nt}")
    return ref


# ---------------------------------------------------------------------------------------------
# The families

ARITH = Features(items=(12, 40))
CONTROL = Features(control=True, calls=True, exits=True)
MEMORY = Features(memory=True, control=True)
SHARED = Features(shared=True, exits=True, items=(4, 10))
ATOMICS = Features(atomics=True, control=True, exits=True, items=(4, 10))
FAULTING = Features(control=True, memory=True, faulting=True, items=(3, 8))


def test_every_instruction_is_generated():
    """The generators of the families below and their ISA 1.1 extension
    (tests/test_isa11_differential.py) emit every instruction of the table, so the VM is fuzzed
    against the reference interpreter on all of them (a new instruction must be added to
    ARITH_OPS or to its family's generator)."""
    import test_isa11_differential as t11
    seen: Set[str] = set()
    families = [(f, None) for f in (ARITH, CONTROL, MEMORY, SHARED, ATOMICS, FAULTING)] + \
        [(f, t11.Gen11) for f in (t11.ARITH, t11.CONTROL, t11.MEMORY, t11.SHARED)]
    for attempt in range(8):              # rare instructions may need more than one round
        for feat, gen_cls in families:
            @seed(attempt)
            @settings(max_examples=100, derandomize=False, database=None, deadline=None,
                      suppress_health_check=list(HealthCheck))
            @given(cases(feat, gen_cls=gen_cls))
            def collect(case):
                seen.update(ins.variant for ins in case.program.instructions)
            collect()
        if seen >= set(SPEC_BY_VARIANT):
            break
    assert set(_core.OPCODES) == set(SPEC_BY_VARIANT)       # the VM runs every row
    assert sorted(set(SPEC_BY_VARIANT) - seen) == []


@given(cases(ARITH, max_lanes=32))
def test_arith_straight_line(case):
    check_case(case)


@given(cases(CONTROL))
def test_control_flow(case):
    check_case(case)


@given(cases(MEMORY))
def test_memory(case):
    check_case(case)


@given(cases(SHARED))
def test_shared_memory_barriers(case):
    check_case(case)


@given(cases(ATOMICS))
def test_atomics_histogram(case):
    check_case(case)


@given(cases(FAULTING))
def test_faults_lowest_lane(case):
    ref = check_case(case, expect_error=True)
    faulting = [g for g, k in enumerate(case.kinds) if k]
    if not faulting:
        assert ref.error is None, describe(case)
        return
    lane = faulting[0]
    site = case.sites[case.kinds[lane]]
    e = ref.error
    assert e is not None, f"expected {site.cls.__name__} in lane {lane}\n" + describe(case)
    assert type(e) is site.cls, (type(e), site, describe(case))
    assert e.global_lane_id == lane, (e, describe(case))
    assert e.pc == site.pc_ref[1], (e, site, describe(case))
    assert e.message == site.message, (e.message, site.message, describe(case))
    bidx, lidx = lane_coords(lane, case.grid, case.block)
    assert (e.block_idx, e.lane_idx) == (bidx, lidx)
    assert e.instruction == str(case.program[e.pc])
    for part in (e.message, str(lane), str(bidx), str(lidx), f"pc {e.pc}", e.instruction):
        assert part in str(e)


# ---- larger runs (pytest --runslow)

_SLOW = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.mark.slow
@_SLOW
@given(st.sampled_from([ARITH, CONTROL, MEMORY, SHARED, ATOMICS, FAULTING]).flatmap(
    lambda f: cases(Features(**{**f.__dict__, "items": (f.items[0], 2 * f.items[1]),
                                "max_depth": 3}), max_lanes=512)))
def test_differential_large(case):
    check_case(case, expect_error=case.kinds is not None)


# ---------------------------------------------------------------------------------------------
# Hand-written differential cases for rules the generator does not reach

SEL_UNSELECTED = """
    mov.u32 r1, %lane.x
    mov_imm.u32 r2, 2
    setlt.u32 p0, r1, r2
    mov_imm.f32 r3, 1.5
    mov_imm.i8 r4, -7
    sel.f32 r5, p0, r3, r9      ; lanes 0, 1 select r3; r9 is never written
    mov.u64 r10, %gid
    mov_imm.u64 r11, 4
    mul.u64 r10, r10, r11
    stg.f32 [r20 + r10], r5
"""


def _both(text: str, grid, block, params_fn, **kw):
    prog = hg.assemble(text)
    results = []
    for engine, nt in (("reference", 1), ("vm", 1), ("vm", 2)):
        be = hg.ReferenceBackend() if engine == "reference" else hg.CpuBackend(num_threads=nt)
        params, outs = params_fn()
        try:
            be.execute_program(prog, hg.LaunchConfig(grid, block), params, num_threads=nt, **kw)
            err = None
        except hg.ExecutionError as e:
            err = error_key(e)
        results.append((err, [o.tobytes() for o in outs]))
    assert results[1] == results[0], (results[1], results[0])
    assert results[2] == results[0], (results[2], results[0])
    return results[0]


def test_sel_reads_only_the_selected_source():
    def params():
        out = np.zeros(4, np.float32)
        return {"r20": out}, [out]
    err, outs = _both(SEL_UNSELECTED, 1, 4, params)
    # lanes 0 and 1 select r3; lane 2 selects the never-written r9 (lowest such lane)
    assert err[0] == "UninitializedRegister" and err[1] == 2 and err[2] == 5
    assert err[3] == "uninitialized register: r9"
    assert np.frombuffer(outs[0], np.float32).tolist() == [1.5, 1.5, 0.0, 0.0]


def test_shared_address_registers_are_not_read():
    text = """
        mov.u32 r1, %lane.x
        cvt.u64.u32 r2, r1
        mov_imm.u64 r3, 4
        mul.u64 r2, r2, r3
        sts.u32 [r77 + r2], r1          ; r77 never written: shared handles are not read
        bar.sync 0
        mov_imm.u64 r99, 1
        lds.u32 r5, [r99 + 3]           ; RegisterIndirect: rB + D (ISA 1.1 §12.2.3)
        lds.u32 r6, [buf12345 + 8]
        lds.u32 r7, [Φ(0, 0, 12)]
        mov.u64 r10, %gid
        mov_imm.u64 r11, 16
        mul.u64 r10, r10, r11
        stg.u32 [r20 + r10], r5
        mov_imm.u64 r11, 4
        add.u64 r10, r10, r11
        stg.u32 [r20 + r10], r6
        add.u64 r10, r10, r11
        stg.u32 [r20 + r10], r7
    """

    def params():
        out = np.zeros(4 * 8, np.uint32)
        return {"r20": out}, [out]
    prog = hg.assemble(text)
    for engine, nt in (("reference", 1), ("vm", 1), ("vm", 2)):
        be = hg.ReferenceBackend() if engine == "reference" else hg.CpuBackend(num_threads=nt)
        p, (out,) = params()
        be.execute_program(prog, hg.LaunchConfig(2, 4, 16), p, num_threads=nt)
        assert out.reshape(8, 4)[:, :3].tolist() == [[1, 2, 3]] * 8, engine


def test_divergent_barrier_positions_release_together():
    """Lanes may wait at different bar.sync instructions with the same id (§6.3)."""
    text = """
        mov.u32 r1, %lane.x
        cvt.u64.u32 r2, r1
        mov_imm.u64 r3, 4
        mul.u64 r2, r2, r3
        sts.u32 [r0 + r2], r1
        mov_imm.u32 r4, 1
        and.u32 r5, r1, r4
        setne.u32 p0, r5, r4
        bra.p0 @even
        bar.sync 3
        bra @joined
    even:
        bar.sync 3
    joined:
        mov_imm.u32 r6, 0
        cvt.u64.u32 r7, r6
        mov.u32 r8, %blockdim.x
        sub.u32 r8, r8, r4
        sub.u32 r8, r8, r1
        cvt.u64.u32 r9, r8
        mul.u64 r9, r9, r3
        lds.u32 r10, [r0 + r9]          ; the mirror lane's value
        mov.u64 r11, %gid
        mul.u64 r11, r11, r3
        stg.u32 [r20 + r11], r10
    """

    def params():
        out = np.zeros(16, np.uint32)
        return {"r20": out}, [out]
    err, outs = _both_shared(text, 2, 8, 32, params)
    assert err is None
    assert np.frombuffer(outs[0], np.uint32).tolist() == list(range(7, -1, -1)) * 2


def _both_shared(text, grid, block, shared, params_fn, **kw):
    prog = hg.assemble(text)
    results = []
    for engine, nt in (("reference", 1), ("vm", 1), ("vm", 2)):
        be = hg.ReferenceBackend() if engine == "reference" else hg.CpuBackend(num_threads=nt)
        params, outs = params_fn()
        try:
            be.execute_program(prog, hg.LaunchConfig(grid, block, shared), params,
                               num_threads=nt, **kw)
            err = None
        except hg.ExecutionError as e:
            err = error_key(e)
        results.append((err, [o.tobytes() for o in outs]))
    assert results[1] == results[0] and results[2] == results[0], results
    return results[0]


def test_barrier_divergence_same_on_both_engines():
    text = """
        mov.u32 r1, %lane.x
        mov_imm.u32 r2, 5
        setlt.u32 p0, r1, r2
        bra.p0 @low
        bar.sync 1
        exit
    low:
        bar.sync 2
    """
    err, _ = _both_shared(text, 3, 8, 0, lambda: ({}, []))
    assert err[0] == "BarrierDivergence" and err[1] == 0 and err[2] == 6


def test_step_limit_counts_identically():
    text = """
        mov.u32 r1, %lane.x
        mov_imm.u32 r2, 0
    top:
        add.u32 r2, r2, r1
        loop r1, @top
    """
    # lane l runs 2 + 2 (l + 1) steps: with max_steps 11 lanes 0..2 finish (4, 6, 8, 10 steps
    # for lanes 0..3), lane 4 needs 12 and faults at the `add` (its 12th instruction is at pc 2)
    err, _ = _both(text, 1, 8, lambda: ({}, []), max_steps=11)
    assert err[0] == "StepLimitExceeded" and err[1] == 4
    assert err[3] == "step limit exceeded (max_steps=11)"
    assert err[2] == 3        # the 12th instruction would be `loop` (pc 3)


# Signaling NaNs are the values for which "C pow" (glibc) and ISA.md §5.6 disagree:
# "pow(x, ±0) = 1, pow(1, y) = 1" holds for every x and y, NaNs included (C99 Annex F).
_SNAN = {DType.F16: 0x7C01, DType.BF16: 0x7F81, DType.F32: 0x7F800001,
         DType.F64: 0x7FF0000000000001}
_QNAN = CANON_NAN
_ONE = {DType.F16: 0x3C00, DType.BF16: 0x3F80, DType.F32: 0x3F800000,
        DType.F64: 0x3FF0000000000000}


def _pow_bits(engine: str, ty: DType, x: int, y: int) -> int:
    prog = hg.assemble(f"""
        mov_imm.{ty.text} r1, {x}
        mov_imm.{ty.text} r2, {y}
        pow.{ty.text} r3, r1, r2
        stg.{ty.text} [r10 + 0], r3
    """)
    out = np.zeros(8, np.uint8)
    be = hg.CpuBackend(num_threads=1) if engine == "vm" else hg.ReferenceBackend()
    be.execute_program(prog, None, {"r10": out})
    return int.from_bytes(out[:ty.size].tobytes(), "little")


@pytest.mark.parametrize("engine", ["vm", "reference"])
@pytest.mark.parametrize("ty", FLOATS, ids=lambda t: t.text)
def test_pow_of_nan_special_cases(engine, ty):
    neg_zero = _SIGN[ty]
    for x, y in ((_SNAN[ty], 0), (_SNAN[ty], neg_zero), (_QNAN[ty], 0), (_QNAN[ty], neg_zero),
                 (_ONE[ty], _SNAN[ty]), (_ONE[ty], _QNAN[ty]), (_ONE[ty], _SNAN[ty] | _SIGN[ty])):
        got = _pow_bits(engine, ty, x, y)
        assert got == _ONE[ty], (engine, ty.text, hex(x), hex(y), hex(got))


@pytest.mark.parametrize("engine", ["vm", "reference"])
def test_pow_annex_f_special_values(engine):
    f64 = DType.F64
    inf, ninf = 0x7FF0000000000000, 0xFFF0000000000000
    m1, p0, n0 = 0xBFF0000000000000, 0, 1 << 63
    half = 0x3FE0000000000000
    cases_ = [((m1, inf), _ONE[f64]), ((m1, ninf), _ONE[f64]),   # pow(-1, ±inf) = 1
              ((p0, m1), inf), ((n0, m1), ninf),                  # pow(±0, -1) = ±inf
              ((ninf, m1), n0),                                   # pow(-inf, -1) = -0
              ((half, inf), p0), ((half, ninf), inf)]
    for (x, y), want in cases_:
        assert _pow_bits(engine, f64, x, y) == want, (hex(x), hex(y))
    assert _is_nan(f64, np.array([_pow_bits(engine, f64, m1, half)],
                                 np.uint64))[0]                   # pow(-1, 0.5) = NaN


# ---------------------------------------------------------------------------------------------
# Lane state must not leak from one block (or lane) to the next: engines reuse their lane
# storage, and every launch / block / lane starts from the state of ISA.md §1 and §3.2.

def _engines():
    return [("reference", hg.ReferenceBackend(), None), ("vm", hg.CpuBackend(), 1),
            ("vm", hg.CpuBackend(), 2)]


@pytest.mark.parametrize("what, body, cls, message", [
    ("register", "mov_imm.u32 r5, 7\nskip:\nadd.u32 r6, r5, r5", hg.UninitializedRegister,
     "uninitialized register: r5"),
    ("register type", "mov_imm.u32 r5, 7\nskip:\nmov_imm.u32 r8, 1\nadd.u32 r6, r5, r8",
     hg.UninitializedRegister, "uninitialized register: r5"),
    ("predicate", "setlt.u32 p3, r1, r2\nskip:\nbra.p3 @end\nend:", hg.UninitializedPredicate,
     "uninitialized predicate: p3"),
    ("call stack", "call @sub\nskip:\nret\nsub: exit", hg.CallStackUnderflow,
     "call stack underflow"),
])
def test_no_state_leaks_between_blocks(what, body, cls, message):
    """Block 0 initialises some state; the other blocks skip that and must still fault."""
    text = f"""
        mov.u32 r1, %block.x
        mov_imm.u32 r2, 0
        setne.u32 p0, r1, r2
        bra.p0 @skip
        {body}
    """
    prog = hg.assemble(text)
    for name, be, nt in _engines():
        for grid, block in ((4, 1), (3, 5)):
            with pytest.raises(cls) as info:
                be.execute_program(prog, hg.LaunchConfig(grid, block), num_threads=nt)
            e = info.value
            assert e.message == message, (name, nt, e)
            assert e.global_lane_id == block, (name, nt, e)      # lane 0 of block 1
            assert e.block_idx == (1, 0, 0)


def test_fresh_lane_state_in_every_block_and_launch():
    """Shared memory is zero-filled per block; the phase counter, the call stack, parameter
    registers and r252-r255 start afresh for every lane, block and launch."""
    prog = hg.assemble("""
    .shared 16
        mov.u64 r20, %gid
        mov_imm.u64 r21, 40
        mul.u64 r20, r20, r21
        lds.u32 r3, [buf0 + 4]          ; 0: nobody in this block has written it yet
        stg.u32 [r10 + r20], r3
        mov.u32 r4, %lane.x
        mov_imm.u32 r5, 1
        add.u32 r4, r4, r5
        bar.sync 0
        sts.u32 [buf0 + 4], r4          ; racing stores, never read in this block: the next
        bar.sync 0                      ; block (and launch) must see 0 again
        phase.get r6
        mov_imm.u64 r21, 4
        add.u64 r20, r20, r21
        stg.u32 [r10 + r20], r6         ; 0 at the start of every lane
        phase.adv 100
        add.u64 r20, r20, r21
        stg.u32 [r10 + r20], r252       ; lane x
        add.u64 r20, r20, r21
        stg.u32 [r10 + r20], r253       ; block x
        add.u64 r20, r20, r21
        stg.u32 [r10 + r20], r254       ; block extent
        add.u64 r20, r20, r21
        stg.u32 [r10 + r20], r11        ; a parameter
        add.u64 r20, r20, r21
        mov_imm.f32 r11, 2.5            ; overwritten with another type: not seen by others
        mov_imm.u64 r252, 99
        mov_imm.u64 r255, 99
        call @sub
        stg.u32 [r10 + r20], r7
        exit
    sub:
        phase.get r7                    ; 100
        ret
    """)
    results = []
    for name, be, nt in _engines():
        for _ in range(2):
            out = np.zeros((6, 10), np.uint32)
            be.execute_program(prog, hg.LaunchConfig(3, 2), {"r10": out, "r11": ("u32", 77)},
                               num_threads=nt)
            results.append(out.copy())
            want = [[0, 0, l % 2, l // 2, 2, 77, 100, 0, 0, 0] for l in range(6)]
            assert out.tolist() == want, (name, nt, out.tolist())


@pytest.mark.parametrize("fault", ["div0", "spin"])
def test_faulted_lane_counts_as_arrived_at_barriers(fault):
    """Lane 2 of every block faults before the barrier (at once, or after spinning until
    max_steps); the other lanes are released and finish (§6.3, §7.6)."""
    faulting = ("mov_imm.u32 r9, 0\ndiv.u32 r9, r9, r9" if fault == "div0" else
                "spin: bra @spin")
    text = f"""
        mov.u32 r1, %lane.x
        cvt.u64.u32 r2, r1
        mov_imm.u64 r3, 4
        mul.u64 r2, r2, r3
        mov_imm.u32 r4, 100
        add.u32 r5, r1, r4
        sts.u32 [r0 + r2], r5
        mov_imm.u32 r6, 2
        setne.u32 p0, r1, r6
        bra.p0 @go
        {faulting}
    go:
        bar.sync 0
        mov_imm.u64 r7, 12
        lds.u32 r8, [r0 + r7]           ; lane 3's value, written before the barrier
        mov.u64 r10, %gid
        mul.u64 r10, r10, r3
        stg.u32 [r20 + r10], r8
    """
    prog = hg.assemble(text)
    outs = []
    for name, be, nt in _engines():
        out = np.zeros(12, np.uint32)
        with pytest.raises(hg.DivisionByZero if fault == "div0" else hg.StepLimitExceeded) as info:
            be.execute_program(prog, hg.LaunchConfig(3, 4, 16), {"r20": out}, num_threads=nt,
                               max_steps=500)
        e = info.value
        assert e.global_lane_id == 2 and e.block_idx == (0, 0, 0) and e.lane_idx == (2, 0, 0)
        assert e.pc == (11 if fault == "div0" else 10), (name, nt, e)
        # block 0 ran to completion: its other lanes passed the barrier
        assert out[:4].tolist() == [103, 103, 0, 103], (name, nt, out)
        outs.append(error_key(e))
    assert outs[1] == outs[0] and outs[2] == outs[0]
