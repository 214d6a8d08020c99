"""Shared test data for tests/test_text.py, test_json.py and test_validation.py.

* the example kernels of ISA.md §8.6, verbatim;
* Hypothesis strategies for VALID Atlas ISA programs, built from the table
  ``hologram.isa.SPECS`` (text and JSON round trips). Field values are generated per field
  kind; the context rules of ISA.md §7.4 are respected: the type sets ``spec.types``,
  ``setltu/leu/gtu/geu`` only on integer types, atomic and/or/xor only on the wide integer
  types, reductions with ``src_base + count <= 256``, Φ class < 96 and page < 48, and label
  references that exist.
* ISA 1.1 (ISA.md §12: new instructions, immediates, negated predicates, scaled addresses,
  %laneid/%warpid, .param declarations) is generated with ``isa11=True``. The default,
  :data:`VM_RUNS_ISA11`, is also the switch for tests that run generated programs on the VM.
"""

from __future__ import annotations

import re
import struct

import numpy as np
from hypothesis import strategies as st

from hologram.isa import (ADDRESS_MODES, ATOMOP, COND, ENUMS, F64, FLAG, GADDR, IMM, LABEL,
                          OPTPRED, PRED, REG, REGIMM, SADDR, SCALES, SCOPE, SPECS, SREG, TYPE, U8,
                          U16, U32, U64, AtomOp, BufferOffset, Cond, DType, Imm, Instruction,
                          ParamDecl, PhiCoordinate, RegisterIndirect, RegisterIndirectComputed,
                          Scope, SReg, T_WIDE_INT)
from hologram.program import Program

# THE switch for ISA 1.1 on the VM (ISA.md §12): False while the VM does not run the new
# instructions, immediates, negated predicates, scaled addresses and %laneid/%warpid yet.
# Tests that run 1.1 programs on the VM are skipped through it (the `needs_vm_isa11` marker,
# see conftest.py) and the generators that feed the VM leave 1.1 out while it is False.
VM_RUNS_ISA11 = False

ISA11_VARIANTS = frozenset(s.variant for s in SPECS if s.since == "1.1")
SREGS_10 = [s for s in SReg if s not in (SReg.LaneId, SReg.WarpId)]

assert set(ADDRESS_MODES) == {"BufferOffset", "PhiCoordinate", "RegisterIndirect",
                              "RegisterIndirectComputed"}

# ------------------------------------------------------------------------------------------------
# Leaves

IDENTS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.$]{0,10}", fullmatch=True)

# interesting float bit patterns per type (canonical and non-canonical NaNs, ±inf, ±0,
# subnormals, extremes)
FLOAT_SPECIALS = {
    DType.F16: [0x7E00, 0xFE00, 0x7C00, 0xFC00, 0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400,
                0x3C00, 0x7BFF, 0xFBFF, 0x7C01, 0x7FFF, 0xFE01, 0x7D00, 0x2400, 0x3555],
    DType.BF16: [0x7FC0, 0xFFC0, 0x7F80, 0xFF80, 0x0000, 0x8000, 0x0001, 0x007F, 0x0080, 0x3F80,
                 0x7F7F, 0xFF7F, 0x7F81, 0x7FFF, 0xFFC1, 0x0400, 0x5F80, 0x3EAB],
    DType.F32: [0x7FC00000, 0xFFC00000, 0x7F800000, 0xFF800000, 0, 0x80000000, 1, 0x80000001,
                0x007FFFFF, 0x00800000, 0x3F800000, 0x7F7FFFFF, 0x7F800001, 0x7FC00001,
                0xFFFFFFFF, 0x42280000, 0x3DCCCCCD, 0x0F800000],
    DType.F64: [0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
                0, 1 << 63, 1, 0x000FFFFFFFFFFFFF, 0x0010000000000000, 0x3FF0000000000000,
                0x7FEFFFFFFFFFFFFF, 0x7FF0000000000001, 0x7FF8000000000001, 2**64 - 1,
                0x3FB999999999999A, 0x0060000000000000],
}


def _f16_bits(x: float) -> int:
    with np.errstate(over="ignore"):
        return int(np.float16(x).view(np.uint16))


def _f32_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def _f64_bits(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def float_patterns(ty: DType) -> st.SearchStrategy[int]:
    """Bit patterns of type ``ty`` (value < 2**w): specials, random bits, from random floats."""
    w = ty.bits
    options = [st.sampled_from(FLOAT_SPECIALS[ty]), st.integers(0, 2**w - 1)]
    if ty == DType.F16:
        options.append(st.floats(width=16).map(_f16_bits))
    elif ty == DType.BF16:
        options.append(st.floats(width=32).map(lambda x: _f32_bits(x) >> 16))
    elif ty == DType.F32:
        options.append(st.floats(width=32).map(_f32_bits))
    else:
        options.append(st.floats().map(_f64_bits))
    return st.one_of(*options)


def imm_values(ty: DType) -> st.SearchStrategy[int]:
    """MOV_IMM.value for type ``ty``: any u64 (raw high bits included)."""
    if ty.is_float:
        w = ty.bits
        high = [] if w == 64 else [st.integers(2**w, 2**64 - 1)]   # high bits set: printed raw
        return st.one_of(float_patterns(ty), *high)
    w = ty.bits
    return st.one_of(st.sampled_from([0, 1, 2**w - 1, 2**(w - 1), 2**(w - 1) - 1, 2**63,
                                      2**63 - 1, 2**64 - 1, 2**64 - 2**(w - 1)]),
                     st.integers(0, 2**64 - 1), st.integers(0, 2**w - 1))


EPSILONS_FINITE = st.one_of(st.floats(allow_nan=True, allow_infinity=False),
                            st.sampled_from([0.0, -0.0, 0.5, -0.5, 1e-300, 5e-324, -1e308,
                                             float("nan")]))
EPSILONS = st.one_of(EPSILONS_FINITE, st.sampled_from([float("inf"), float("-inf")]))

REGS = st.integers(0, 255)
PREDS = st.integers(0, 15)


DISPS = st.one_of(st.integers(-64, 64), st.integers(-2**31, 2**31 - 1),
                  st.sampled_from([-2**31, 2**31 - 1]))


def addresses(allow_phi: bool = True, isa11: bool = VM_RUNS_ISA11) -> st.SearchStrategy:
    modes = [
        st.builds(BufferOffset, st.one_of(st.integers(0, 16), st.integers(0, 2**64 - 1)),
                  st.one_of(st.integers(0, 4096), st.integers(0, 2**64 - 1))),
        st.builds(RegisterIndirect, REGS, DISPS),
        st.builds(RegisterIndirectComputed, REGS, REGS),
    ]
    if isa11:                                     # [rH + rO*S ± D] (§12.2.1)
        modes.append(st.builds(RegisterIndirectComputed, REGS, REGS, st.sampled_from(SCALES),
                               DISPS))
    if allow_phi:
        modes.append(st.builds(PhiCoordinate, st.integers(0, 95), st.integers(0, 47),
                               st.integers(0, 255)))
    return st.one_of(*modes)


UINTS = {U8: st.integers(0, 2**8 - 1), U16: st.integers(0, 2**16 - 1),
         U32: st.integers(0, 2**32 - 1),
         U64: st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 65536))}

ORDERED_CONDS = [c for c in Cond if c < Cond.LTU]
PLAIN_ATOM_OPS = [AtomOp.ADD, AtomOp.MIN, AtomOp.MAX, AtomOp.EXCH]

# ------------------------------------------------------------------------------------------------
# Instructions


def operand_imms(ty: DType) -> st.SearchStrategy[Imm]:
    """Immediate operands (§12.1) of type ``ty`` (u32: shift amounts, shuffle lanes)."""
    if ty == DType.U32:
        return st.builds(Imm, st.one_of(st.integers(0, 40), st.integers(0, 2**32 - 1)))
    return st.builds(Imm, imm_values(ty))


@st.composite
def instructions(draw, spec=None, labels=("L",), finite_epsilon: bool = False,
                 isa11: bool = VM_RUNS_ISA11):
    """One valid instruction (of ``spec``, or of any spec usable with ``labels``; ISA 1.1
    variants and operand forms only with ``isa11``, unless ``spec`` is one of them)."""
    if spec is None:
        usable = [s for s in SPECS if (labels or all(f.kind != LABEL for f in s.fields))
                  and (isa11 or s.since == "1.0")]
        spec = draw(st.sampled_from(usable))
    isa11 = isa11 or spec.since == "1.1"
    values = {}
    # type fields first: other fields (cond, op, value) depend on them
    for f in spec.fields:
        if f.kind == TYPE:
            allowed = spec.types if f.name == "ty" else list(DType)
            values[f.name] = draw(st.sampled_from(sorted(allowed)))
    for f in spec.fields:
        k = f.kind
        if k == TYPE:
            continue
        if spec.variant.startswith("Reduce") and f.name == "src_base":
            base = draw(st.one_of(REGS, st.sampled_from([0, 255, 250])))
            values["src_base"] = base
            values["count"] = draw(st.one_of(st.integers(0, 256 - base),
                                             st.just(256 - base)))
            continue
        if spec.variant.startswith("Reduce") and f.name == "count":
            continue
        if k == REG:
            values[f.name] = draw(REGS)
        elif k == PRED:
            values[f.name] = draw(PREDS)
        elif k == OPTPRED:
            values[f.name] = draw(st.one_of(st.none(), PREDS))
        elif k == LABEL:
            values[f.name] = draw(st.sampled_from(sorted(labels)))
        elif k in (GADDR, SADDR):
            values[f.name] = draw(addresses(isa11=isa11))
        elif k == REGIMM:
            ty = DType.U32 if f.rtype == DType.U32 else values["ty"]
            values[f.name] = draw(st.one_of(REGS, operand_imms(ty)) if isa11 else REGS)
        elif k == FLAG:                           # bra.!pN needs a predicate
            values[f.name] = isa11 and values.get("pred") is not None and draw(st.booleans())
        elif k in (ENUMS.keys() - {COND, SCOPE, SREG, ATOMOP}):
            values[f.name] = draw(st.sampled_from(list(ENUMS[k])))
        elif k in UINTS:
            values[f.name] = draw(UINTS[k])
        elif k == IMM:
            values[f.name] = draw(imm_values(values["ty"]))
        elif k == F64:
            values[f.name] = draw(EPSILONS_FINITE if finite_epsilon else EPSILONS)
        elif k == COND:
            ty = values["ty"]
            values[f.name] = draw(st.sampled_from(list(Cond) if ty.is_int else ORDERED_CONDS))
        elif k == ATOMOP:
            ty = values["ty"]
            values[f.name] = draw(st.sampled_from(list(AtomOp) if ty in T_WIDE_INT
                                                  else PLAIN_ATOM_OPS))
        elif k == SCOPE:
            values[f.name] = draw(st.sampled_from(list(Scope)))
        elif k == SREG:
            values[f.name] = draw(st.sampled_from(list(SReg) if isa11 else SREGS_10))
        else:  # pragma: no cover - a new field kind needs a generator
            raise AssertionError(f"no generator for field kind {k!r}")
    return Instruction(spec.variant, **values)


@st.composite
def programs(draw, max_instructions: int = 12, finite_epsilon: bool = False,
             directives: bool = True, isa11: bool = VM_RUNS_ISA11,
             declarations: bool = False):
    """A valid Program: instructions from SPECS, labels in [0, len], optional directives;
    with ``declarations``, .param declarations (§12.6) and the program repaired so that no
    read can never succeed (validation rejects that)."""
    n = draw(st.integers(0, max_instructions))
    names = draw(st.lists(IDENTS, max_size=5, unique=True))
    labels = {name: draw(st.integers(0, n)) for name in names}
    ins = [draw(instructions(labels=tuple(labels), finite_epsilon=finite_epsilon, isa11=isa11))
           for _ in range(n)]
    if declarations:
        params = draw(param_decls())
        ins, labels = repair_reads(ins, labels, params)
    else:
        params = ()
    name = block = shared = None
    if directives:
        name = draw(st.one_of(st.none(), IDENTS))
        block = draw(st.one_of(
            st.none(),
            st.tuples(st.integers(1, 1024), st.integers(1, 64), st.integers(1, 64)),
            st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                      st.integers(0, 2**32 - 1))))
        shared = draw(st.one_of(st.none(), st.integers(0, 2**26), st.integers(0, 2**64 - 1)))
    return Program(ins, labels, name=name, block=block, shared_memory=shared, params=params)


@st.composite
def param_decls(draw, max_size: int = 6):
    """``.param`` declarations: distinct registers and names (never "rN")."""
    regs = draw(st.lists(st.one_of(REGS, st.integers(0, 12)), max_size=max_size, unique=True))
    names = draw(st.lists(IDENTS.filter(lambda x: not re.fullmatch(r"[rR]\d+", x)),
                          min_size=len(regs), max_size=len(regs), unique=True))
    return tuple(ParamDecl(r, draw(st.sampled_from(list(DType))), draw(st.booleans()),
                           draw(st.one_of(st.none(), st.just(nm)))) for r, nm in zip(regs, names))


def repair_reads(ins, labels, params):
    """Insert a write before every read that can never succeed under the declarations (§12.6),
    so that the program is valid; an instruction that reads one register with two types is
    replaced by ``memfence.block``."""
    from hologram.verify import static_type_error
    ins, labels = list(ins), dict(labels)
    fixes = set()
    while True:
        found = static_type_error(Program(ins, labels, params=params, validate=False))
        if found is None:
            return ins, labels
        i, operand, message, _ = found
        reg = int(operand[1:])
        if i > 0 and id(ins[i - 1]) in fixes and ins[i - 1].dst == reg:
            ins[i] = Instruction("MemFence", scope=Scope.Block)
            continue
        if operand[0] == "p":
            fix = Instruction("UnityTest", dst=reg, epsilon=0.0)
        else:
            ty = DType.parse(re.match(r"r\d+ is never (\w+)", message).group(1))
            fix = Instruction("MOV_IMM", ty=ty, dst=reg, value=0)
        fixes.add(id(fix))
        ins.insert(i, fix)
        labels = {k: v + (v > i) for k, v in labels.items()}


# ------------------------------------------------------------------------------------------------
# ISA.md §8.6 example kernels (verbatim)

VECTOR_ADD = """\
.kernel vector_add
.block 256
; params: r1 = a, r2 = b, r3 = c (f32 arrays), r4 = n (u64)
        setgeu.u64  p0, r255, r4        ; global id >= n: nothing to do
        bra.p0      @done
        mov_imm.u32 r250, 2
        shl.u64     r0, r255, r250      ; byte offset = 4 * global id
        ldg.f32     r10, [r1 + r0]
        ldg.f32     r11, [r2 + r0]
        add.f32     r12, r10, r11
        stg.f32     [r3 + r0], r12
done:
        exit
"""

VECTOR_ADD_CANONICAL = """\
.kernel vector_add
.block 256, 1, 1
    setgeu.u64 p0, r255, r4
    bra.p0 @done
    mov_imm.u32 r250, 2
    shl.u64 r0, r255, r250
    ldg.f32 r10, [r1 + r0]
    ldg.f32 r11, [r2 + r0]
    add.f32 r12, r10, r11
    stg.f32 [r3 + r0], r12
done:
    exit
"""

BLOCK_SUM = """\
.kernel block_sum
.block 256
.shared 1024
; params: r1 = x (f32 array), r2 = out (f32[1], zeroed), r3 = n (u64)
        mov.u32      r20, %lane.x       ; t
        cvt.u64.u32  r21, r20
        mov_imm.u32  r30, 2
        shl.u64      r22, r21, r30      ; 4*t = this lane's shared slot
        mov_imm.f32  r10, 0.0
        setgeu.u64   p0, r255, r3       ; past the end: contribute 0
        bra.p0       @stash
        shl.u64      r23, r255, r30
        ldg.f32      r10, [r1 + r23]
stash:
        sts.f32      [r0 + r22], r10    ; shared[t] = value (r0 is not read)
        bar.sync     0
        mov_imm.u32  r24, 128           ; s = 128
        mov_imm.u32  r31, 1
        mov_imm.u32  r32, 0
step:
        setge.u32    p1, r20, r24       ; t >= s: skip the add
        bra.p1       @sync
        add.u32      r25, r20, r24
        cvt.u64.u32  r26, r25
        shl.u64      r26, r26, r30      ; 4*(t+s)
        lds.f32      r11, [r0 + r26]
        lds.f32      r12, [r0 + r22]
        add.f32      r12, r12, r11
        sts.f32      [r0 + r22], r12    ; shared[t] += shared[t+s]
sync:
        bar.sync     0                  ; every lane passes here 8 times
        shr.u32      r24, r24, r31      ; s >>= 1
        setne.u32    p2, r24, r32
        bra.p2       @step
        setne.u32    p3, r20, r32
        bra.p3       @done              ; only lane 0 goes on
        lds.f32      r13, [buf0 + 0]    ; block total
        mov_imm.u64  r33, 0
        atom.add.f32 r14, [r2 + r33], r13
done:
        exit
"""
