"""The Atlas ISA in one table (ISA.md §2-§6).

:data:`SPECS` lists every instruction once: its JSON variant, its fields in order (which is also
the register read order), its text form, the types it accepts and how the VM runs it (family,
flags and C semantics). The assembler, disassembler, JSON codec, validator, verifier and
lowering are driven by this table, the VM's per-instruction code is generated from it
(hologram/_vmgen.py) and the reference interpreter registers one function per variant against
it (checked complete at import).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Tuple, Union

from .disasm import format_instruction
from .errors import ProgramError
# The operand vocabulary, re-exported: instructions are described in its terms.
from .operands import (  # noqa: F401
    ADDRESS_DEFAULTS, ADDRESS_MODES, ATOMOP, COND, ENUMS, F64, FLAG, GADDR, IMM, INT_RANGES,
    LABEL, OPTPRED, PRED, REG, REGIMM, SADDR, SCALES, SCOPE, SHFLMODE, SREG, T_ALL, T_FLOAT,
    T_INT, T_SIGNED, T_WIDE, T_WIDE_INT, TYPE, U8, U16, U32, U64, VOTEMODE, WARP_SIZE, Address,
    AtomOp, BufferOffset, Cond, DType, Imm, ParamDecl, PhiCoordinate, RegisterIndirect,
    RegisterIndirectComputed, Scope, ShflMode, SReg, VoteMode)

# --------------------------------------------------------------------------------------------
# ISA-wide limits

NUM_REGS = 256          # r0 .. r255 (r252 .. r255 start as special registers, §3.2)
NUM_PREDS = 16          # p0 .. p15
CALL_DEPTH = 256        # return addresses a lane's call stack holds (§1, §6.1)

# --------------------------------------------------------------------------------------------
# Specs: fields, how the VM runs an instruction, the table


@dataclass(frozen=True)
class Field:
    """One field of an instruction.

    ``role`` says how a register/predicate field is used: ``"w"`` written; ``"r"`` read;
    ``"rw"`` read then written (LOOP's counter); ``"sel"`` read only if selected (SEL);
    ``"range"`` base of a register range (reductions). ``rtype`` is the type it is read or
    written with: a DType, or the name of the instruction's type field (``"ty"``, ``"src_ty"``,
    ``"dst_ty"``), or ``"sreg"`` for MOV_SREG's destination. A ``regimm`` field holds a
    register index or an :class:`Imm` (ISA 1.1 §12.1) of that type.
    """
    name: str
    kind: str
    role: str = ""
    rtype: Union[DType, str, None] = None


# How the VM runs each instruction (hologram/_vmgen.py turns these columns into the VM's
# dispatch, hologram/_vm_ops.pxi; docs/CONTRIBUTING.md explains how to add an instruction).
FAMILIES: Dict[str, str] = {
    "memory": "global and shared loads and stores (exec_memory)",
    "move": "moves and conversions (a handler exec_<name> each)",
    "binary": "element-wise d = a OP b: one loop per operand kind, from `sem`",
    "ternary": "element-wise d = OP(a, b, c), from `sem`",
    "unary": "element-wise d = OP(a), from `sem`",
    "compare": "setcc and sel (a handler exec_<name> each)",
    "control": "may change the pc, split or end the group (a handler ctl_<name> each)",
    "fence": "memory ordering (a handler exec_<name> each)",
    "reduce": "d = a register range folded with the binary instruction `sem.fold`",
    "atomic": "atomic read-modify-write (exec_atomic)",
    "pool": "pool instructions (a handler exec_<name> each)",
    "atlas": "Atlas instructions (a handler exec_<name> each)",
    "predicate": "predicate logic (exec_predicate)",
    "warp": "warp collectives: the lanes wait for their warp (ctl_collective), then a handler "
            "exec_<name> runs the instruction for the warp's participating lanes together",
}

# Facts the VM needs about an instruction beyond its family.
VM_FLAGS: Dict[str, str] = {
    "lazy": "a whole-block result whose register shape is known stays unwritten until read",
    "own_rows": "refreshes the stale register rows it reads itself",
}


@dataclass(frozen=True)
class CSem:
    """The VM's semantics of an element-wise instruction, in C.

    Each entry is a C operator applied to the operands (``"+"``: ``x + y``; a unary ``"-"`` is
    ``0 - x``) or the name of an inline helper of hologram/_vm_values.pxi called with them:

    * ``ints``: on integer types, as canonical 64-bit values ``x, y, z`` (helpers also get the
      signedness and the canonical-form shift, and the result is canonicalised);
    * ``floats``: on float types, as f32 or f64 values: a helper fused over float/double, or
      ``"f32name/f64name"``, the C functions for each (``"expf/exp"``); f16/bf16 compute in f32;
    * ``bits``: on float types, on the bit pattern (helpers get the type's sign bit);
    * ``zero_divisor_faults``: an integer divisor of 0 faults the lane (DivisionByZero);
    * ``fold``: reductions: the binary instruction that folds the range.
    """
    ints: str = ""
    floats: str = ""
    bits: str = ""
    zero_divisor_faults: bool = False
    fold: str = ""


@dataclass(frozen=True)
class Spec:
    """One instruction of the ISA."""
    variant: str                 # JSON variant name
    fields: Tuple[Field, ...]    # in JSON and read order
    text: str                    # text template: "mnemonic.{field} {op}, {op}"
    types: FrozenSet[DType] = frozenset()   # accepted values of the "ty" field
    group: str = ""              # documentation section
    family: str = ""             # how the VM runs it (FAMILIES)
    flags: FrozenSet[str] = frozenset()     # VM facts (VM_FLAGS)
    sem: Optional[CSem] = None   # element-wise and reduce families: the C semantics
    since: str = "1.0"           # ISA version that added it (1.1: ISA.md §12)

    @property
    def mnemonic(self) -> str:
        return self.text.split(" ", 1)[0]

    @property
    def operands(self) -> List[str]:
        rest = self.text.split(" ", 1)[1:] or [""]
        return [p.strip()[1:-1] for p in rest[0].split(",") if p.strip()]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def _f(name: str, kind: str, role: str = "", rtype: Union[DType, str, None] = None) -> Field:
    return Field(name, kind, role, rtype)


TY = _f("ty", TYPE)
DST = _f("dst", REG, "w", "ty")
NEGATE = _f("negate", FLAG)
LAZY, OWN_ROWS = frozenset({"lazy"}), frozenset({"own_rows"})
U8T, U32T, U64T = DType.U8, DType.U32, DType.U64


def _binary(variant: str, types, group: str, sem: CSem, flags=frozenset()) -> Spec:
    # ISA 1.1 §12.1: the last source may be an immediate
    return Spec(variant, (TY, DST, _f("src1", REG, "r", "ty"), _f("src2", REGIMM, "r", "ty")),
                f"{variant.lower()}.{{ty}} {{dst}}, {{src1}}, {{src2}}", types, group,
                "binary", flags, sem)


def _unary(variant: str, types, group: str, sem: CSem) -> Spec:
    return Spec(variant, (TY, DST, _f("src", REG, "r", "ty")),
                f"{variant.lower()}.{{ty}} {{dst}}, {{src}}", types, group, "unary", sem=sem)


def _ternary(variant: str, types, sem: CSem) -> Spec:
    return Spec(variant, (TY, DST, _f("a", REG, "r", "ty"), _f("b", REG, "r", "ty"),
                          _f("c", REG, "r", "ty")),
                f"{variant.lower()}.{{ty}} {{dst}}, {{a}}, {{b}}, {{c}}", types, "arith",
                "ternary", sem=sem)


def _shift(variant: str, sem: CSem, flags=frozenset()) -> Spec:
    return Spec(variant, (TY, DST, _f("src", REG, "r", "ty"), _f("amount", REGIMM, "r", U32T)),
                f"{variant.lower()}.{{ty}} {{dst}}, {{src}}, {{amount}}", T_INT, "bitwise",
                "binary", flags, sem)


def _reduce(op: str) -> Spec:
    return Spec(f"Reduce{op.capitalize()}", (TY, DST, _f("src_base", REG, "range", "ty"),
                                             _f("count", U32)),
                f"reduce.{op}.{{ty}} {{dst}}, {{src_base}}, {{count}}", T_ALL, "reduction",
                "reduce", sem=CSem(fold=op.upper()))


def _atomic(variant: str, space: str) -> Spec:
    addr = _f("addr", GADDR if space == "atom" else SADDR)
    if variant.endswith("CAS"):
        return Spec(variant, (TY, DST, addr, _f("cmp", REG, "r", "ty"), _f("src", REG, "r", "ty")),
                    f"{space}.cas.{{ty}} {{dst}}, {{addr}}, {{cmp}}, {{src}}", T_WIDE, "atomic",
                    "atomic")
    return Spec(variant, (_f("op", ATOMOP), TY, DST, addr, _f("src", REG, "r", "ty")),
                f"{space}.{{op}}.{{ty}} {{dst}}, {{addr}}, {{src}}", T_WIDE, "atomic", "atomic")


SPECS: Tuple[Spec, ...] = (
    # 5.1 data movement
    Spec("LDG", (TY, DST, _f("addr", GADDR)), "ldg.{ty} {dst}, {addr}", T_ALL, "memory",
         "memory", OWN_ROWS),
    Spec("STG", (TY, _f("src", REG, "r", "ty"), _f("addr", GADDR)), "stg.{ty} {addr}, {src}",
         T_ALL, "memory", "memory", OWN_ROWS),
    Spec("LDS", (TY, DST, _f("addr", SADDR)), "lds.{ty} {dst}, {addr}", T_ALL, "memory",
         "memory"),
    Spec("STS", (TY, _f("src", REG, "r", "ty"), _f("addr", SADDR)), "sts.{ty} {addr}, {src}",
         T_ALL, "memory", "memory"),
    Spec("MOV", (TY, DST, _f("src", REG, "r", "ty")), "mov.{ty} {dst}, {src}", T_ALL, "move",
         "move", LAZY),
    Spec("MOV_IMM", (TY, DST, _f("value", IMM)), "mov_imm.{ty} {dst}, {value}", T_ALL, "move",
         "move", LAZY),
    Spec("MOV_SREG", (_f("dst", REG, "w", "sreg"), _f("sreg", SREG)), "mov.{sreg} {dst}, {sreg}",
         frozenset(), "move", "move"),
    Spec("CVT", (_f("src_ty", TYPE), _f("dst_ty", TYPE), _f("dst", REG, "w", "dst_ty"),
                 _f("src", REG, "r", "src_ty")), "cvt.{dst_ty}.{src_ty} {dst}, {src}", T_ALL,
         "move", "move"),
    # 5.2 arithmetic
    _binary("ADD", T_ALL, "arith", CSem("+", "+"), LAZY),
    _binary("SUB", T_ALL, "arith", CSem("-", "-"), LAZY),
    _binary("MUL", T_ALL, "arith", CSem("*", "*"), LAZY),
    _binary("DIV", T_ALL, "arith", CSem("int_div", "/", zero_divisor_faults=True)),
    _binary("REM", T_INT, "arith", CSem("int_rem", zero_divisor_faults=True)),
    _ternary("MAD", T_ALL, CSem("int_mad", "mad_isa")),
    _ternary("FMA", T_FLOAT, CSem(floats="fmaf/fma")),
    _binary("MIN", T_ALL, "arith", CSem("int_min", "fmin_isa")),
    _binary("MAX", T_ALL, "arith", CSem("int_max", "fmax_isa")),
    _unary("ABS", T_SIGNED | T_FLOAT, "arith", CSem("int_abs", bits="abs_bits")),
    _unary("NEG", T_SIGNED | T_FLOAT, "arith", CSem("-", bits="neg_bits")),
    # 5.3 bitwise
    _binary("AND", T_INT, "bitwise", CSem("&")), _binary("OR", T_INT, "bitwise", CSem("|")),
    _binary("XOR", T_INT, "bitwise", CSem("^")), _unary("NOT", T_INT, "bitwise", CSem("~")),
    _shift("SHL", CSem("int_shl"), LAZY), _shift("SHR", CSem("int_shr")),
    # 5.4 compare and select
    Spec("SETcc", (TY, _f("cond", COND), _f("dst", PRED, "w"), _f("src1", REG, "r", "ty"),
                   _f("src2", REGIMM, "r", "ty")), "set{cond}.{ty} {dst}, {src1}, {src2}",
         T_ALL, "compare", "compare", OWN_ROWS),
    # "negate" (ISA 1.1 §12.3) prints as "!" before the predicate: sel.T rD, !pP, rT, rF
    Spec("SEL", (TY, DST, _f("pred", PRED, "r"), _f("src_true", REG, "sel", "ty"),
                 _f("src_false", REG, "sel", "ty"), NEGATE),
         "sel.{ty} {dst}, {pred}, {src_true}, {src_false}", T_ALL, "compare", "compare"),
    # 6.1 control flow (bra.!pN: taken iff pN is false)
    Spec("BRA", (_f("target", LABEL), _f("pred", OPTPRED, "r"), NEGATE), "bra{pred} {target}",
         group="control", family="control"),
    Spec("CALL", (_f("target", LABEL),), "call {target}", group="control", family="control"),
    Spec("RET", (), "ret", group="control", family="control"),
    Spec("LOOP", (_f("count", REG, "rw", U32T), _f("body", LABEL)), "loop {count}, {body}",
         group="control", family="control"),
    Spec("EXIT", (), "exit", group="control", family="control"),
    Spec("BarSync", (_f("id", U8),), "bar.sync {id}", group="control", family="control"),
    Spec("MemFence", (_f("scope", SCOPE),), "memfence.{scope}", group="control", family="fence"),
    # 5.7 reductions
    _reduce("add"), _reduce("min"), _reduce("max"), _reduce("mul"),
    # 5.6 transcendentals: the C functions for f32 / f64 (or a helper of _vm_values.pxi)
    *(_unary(v, T_FLOAT, "transcendental", CSem(floats=c)) for v, c in (
        ("EXP", "expf/exp"), ("LOG", "logf/log"), ("LOG2", "log2f/log2"),
        ("LOG10", "log10f/log10"), ("SQRT", "sqrtf/sqrt"), ("RSQRT", "rsqrt_isa"),
        ("SIN", "sinf/sin"), ("COS", "cosf/cos"), ("TAN", "tanf/tan"), ("TANH", "tanhf/tanh"),
        ("SIGMOID", "sigmoid_isa"))),
    _binary("POW", T_FLOAT, "transcendental", CSem(floats="pow_isa")),
    # 5.8 atomics
    _atomic("ATOM", "atom"), _atomic("ATOM_CAS", "atom"),
    _atomic("ATOMS", "atoms"), _atomic("ATOMS_CAS", "atoms"),
    # 5.9 pools
    Spec("PoolAlloc", (_f("size", U64), _f("dst", REG, "w", U64T)), "pool.alloc {dst}, {size}",
         group="pool", family="pool"),
    Spec("PoolFree", (_f("handle", REG, "r", U64T),), "pool.free {handle}", group="pool",
         family="pool"),
    Spec("PoolLoad", (TY, _f("pool", REG, "r", U64T), _f("offset", REG, "r", U64T), DST),
         "pool.load.{ty} {dst}, {pool}, {offset}", T_ALL, "pool", "pool"),
    Spec("PoolStore", (TY, _f("pool", REG, "r", U64T), _f("offset", REG, "r", U64T),
                       _f("src", REG, "r", "ty")), "pool.store.{ty} {pool}, {offset}, {src}",
         T_ALL, "pool", "pool"),
    # 5.10 Atlas
    Spec("ClsGet", (_f("dst", REG, "w", U8T),), "cls.get {dst}", group="atlas", family="atlas"),
    Spec("MIRROR", (_f("dst", REG, "w", U8T), _f("src", REG, "r", U8T)), "mirror {dst}, {src}",
         group="atlas", family="atlas"),
    Spec("UnityTest", (_f("dst", PRED, "w"), _f("epsilon", F64)), "unity.test {dst}, {epsilon}",
         group="atlas", family="atlas"),
    Spec("NbrCount", (_f("class", REG, "r", U8T), _f("dst", REG, "w", U32T)),
         "nbr.count {dst}, {class}", group="atlas", family="atlas"),
    Spec("NbrGet", (_f("class", REG, "r", U8T), _f("index", U8), _f("dst", REG, "w", U8T)),
         "nbr.get {dst}, {class}, {index}", group="atlas", family="atlas"),
    Spec("ResAccum", (_f("class", REG, "r", U8T), _f("value", REG, "r", DType.F64)),
         "res.accum {class}, {value}", group="atlas", family="atlas"),
    Spec("PhaseGet", (_f("dst", REG, "w", U32T),), "phase.get {dst}", group="atlas",
         family="atlas"),
    Spec("PhaseAdv", (_f("delta", U16),), "phase.adv {delta}", group="atlas", family="atlas"),
    Spec("BoundMap", (_f("class", REG, "r", U8T), _f("page", REG, "r", U8T),
                      _f("byte", REG, "r", U8T), _f("dst", REG, "w", U64T)),
         "bound.map {dst}, {class}, {page}, {byte}", group="atlas", family="atlas"),
    # ---- ISA 1.1 (§12)
    # 12.3 predicate logic
    *(Spec(v, (_f("dst", PRED, "w"), _f("src1", PRED, "r"), _f("src2", PRED, "r")),
           f"{v[1:].lower()}.pred {{dst}}, {{src1}}, {{src2}}", group="predicate",
           family="predicate", since="1.1")
      for v in ("PAND", "POR", "PXOR")),
    Spec("PNOT", (_f("dst", PRED, "w"), _f("src", PRED, "r")), "not.pred {dst}, {src}",
         group="predicate", family="predicate", since="1.1"),
    # 12.4 warp collectives
    Spec("SHFL", (_f("mode", SHFLMODE), TY, DST, _f("src", REG, "r", "ty"),
                  _f("lane", REGIMM, "r", U32T)), "shfl.{mode}.{ty} {dst}, {src}, {lane}",
         T_ALL, "warp", "warp", since="1.1"),
    Spec("VOTE", (_f("mode", VOTEMODE), _f("dst", PRED, "w"), _f("src", PRED, "r")),
         "vote.{mode} {dst}, {src}", group="warp", family="warp", since="1.1"),
    Spec("BALLOT", (_f("dst", REG, "w", U32T), _f("src", PRED, "r")), "ballot.u32 {dst}, {src}",
         group="warp", family="warp", since="1.1"),
    # 12.5 math: the C functions for f32 / f64, as for the transcendentals (floor, ceil, trunc
    # and round are exact)
    *(Spec(v, (TY, DST, _f("src", REG, "r", "ty")), f"{v.lower()}.{{ty}} {{dst}}, {{src}}",
           T_FLOAT, "math", "unary", sem=CSem(floats=c), since="1.1") for v, c in (
        ("ERF", "erff/erf"), ("EXP2", "exp2f/exp2"), ("FLOOR", "floorf/floor"),
        ("CEIL", "ceilf/ceil"), ("TRUNC", "truncf/trunc"), ("ROUND", "roundf/round"))),
)

# Warp collectives: a lane waits at them until its warp is resolved (§12.4)
COLLECTIVES = frozenset({"SHFL", "VOTE", "BALLOT"})

SPEC_BY_VARIANT: Dict[str, Spec] = {s.variant: s for s in SPECS}

# Archived-version macro-instructions of the original: recognised only to be rejected clearly.
UNSUPPORTED_VARIANTS = frozenset({
    "LayerNorm", "GroupNorm", "BatchNorm", "Conv2d", "NearestUpsample2d", "Gemm", "ParallelMap",
    "ParallelMapBinary", "ParallelReduce"})

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.$]*\Z")

# --------------------------------------------------------------------------------------------
# Instructions


def _check_int(value: Any, lo: int, hi: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if hasattr(value, "__index__") and not isinstance(value, (float, bool)):
            value = value.__index__()
        else:
            raise ProgramError(f"{what} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ProgramError(f"{what} {value} out of range [{lo}, {hi}]")
    return int(value)


def _coerce(spec: Spec, fld: Field, value: Any) -> Any:
    """Normalise one field value by its kind; ProgramError if it cannot belong to it."""
    k = fld.kind
    what = f"{spec.variant}.{fld.name}"
    if k == TYPE:
        return DType.parse(value)
    if k == REG:
        return _check_int(value, 0, NUM_REGS - 1, f"{what} (register)")
    if k == REGIMM:
        if isinstance(value, Imm):
            hi = INT_RANGES[U32] if fld.rtype == DType.U32 else INT_RANGES[U64]
            return Imm(_check_int(value.value, 0, hi, f"{what} (immediate)"))
        return _check_int(value, 0, 255, f"{what} (register)")
    if k == FLAG:
        if not isinstance(value, bool):
            raise ProgramError(f"{what} must be true or false, got {value!r}")
        return value
    if k == PRED:
        return _check_int(value, 0, NUM_PREDS - 1, f"{what} (predicate)")
    if k == OPTPRED:
        return None if value is None else _check_int(value, 0, NUM_PREDS - 1,
                                                              f"{what} (predicate)")
    if k == LABEL:
        if not isinstance(value, str):
            raise ProgramError(f"{what} must be a label name, got {value!r}")
        return value
    if k in INT_RANGES:
        return _check_int(value, 0, INT_RANGES[k], what)
    if k == F64:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProgramError(f"{what} must be a number, got {value!r}")
        try:
            return float(value)
        except OverflowError:        # an int beyond the f64 range: nearest f64 is ±inf
            return -math.inf if value < 0 else math.inf
    if k in ENUMS:
        return ENUMS[k].parse(value)
    if k in (GADDR, SADDR):
        for cls, flds in ADDRESS_MODES.values():
            if isinstance(value, cls):
                for _, attr, lo, hi in flds:
                    _check_int(getattr(value, attr), lo, hi, f"{what}.{attr}")
                return value
        raise ProgramError(f"{what} must be an address, got {value!r}")
    raise AssertionError(k)


def _float_eq(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) and math.isnan(b):
            return True
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


class Instruction:
    """One instruction: a variant of :data:`SPECS` with its field values.

    ``Instruction("ADD", ty="f32", dst=3, src1=1, src2=2)``; fields are reachable as
    attributes (``ins.dst``) and ``ins.args`` (a dict in field order). ``str(ins)`` is the
    disassembler's text form.
    """

    __slots__ = ("spec", "values")

    def __init__(self, variant: str, **fields: Any):
        spec = SPEC_BY_VARIANT.get(variant)
        if spec is None:
            what = "unsupported instruction" if variant in UNSUPPORTED_VARIANTS else "unknown instruction"
            raise ProgramError(f"{what} {variant!r}")
        names = [f.name for f in spec.fields]
        extra = set(fields) - set(names)
        if extra:
            raise ProgramError(f"{variant}: unknown field(s) {sorted(extra)}")
        values: List[Any] = []
        for f in spec.fields:
            if f.name not in fields:
                if f.kind in (OPTPRED, FLAG):    # optional: null / false
                    values.append(None if f.kind == OPTPRED else False)
                    continue
                raise ProgramError(f"{variant}: missing field {f.name!r}")
            values.append(_coerce(spec, f, fields[f.name]))
        object.__setattr__(self, "spec", spec)
        object.__setattr__(self, "values", tuple(values))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Instruction is immutable")

    @property
    def variant(self) -> str:
        return self.spec.variant

    @property
    def args(self) -> Dict[str, Any]:
        return {f.name: v for f, v in zip(self.spec.fields, self.values)}

    def __getattr__(self, name: str) -> Any:
        spec = object.__getattribute__(self, "spec")
        for f, v in zip(spec.fields, object.__getattribute__(self, "values")):
            if f.name == name:
                return v
        raise AttributeError(f"{spec.variant} has no field {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Instruction):
            return NotImplemented
        return self.spec is other.spec and all(
            _float_eq(a, b) for a, b in zip(self.values, other.values))

    def __hash__(self) -> int:
        return hash((self.spec.variant, tuple(
            "nan" if isinstance(v, float) and math.isnan(v) else v for v in self.values)))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"Instruction({self.spec.variant!r}{', ' if inner else ''}{inner})"

    def __str__(self) -> str:
        return format_instruction(self)

    def reg_type(self, fld: Field) -> Optional[DType]:
        """The type a register field is read or written with."""
        rt = fld.rtype
        if isinstance(rt, DType) or rt is None:
            return rt
        if rt == "sreg":
            return self.sreg.dtype
        return getattr(self, rt)

    def reads(self) -> Iterable[Tuple[str, int, Optional[DType]]]:
        """Registers/predicates read unconditionally, in read order: ("r"|"p", index, type).

        Reduction ranges are expanded; SEL's sources (read only when selected) are not listed.
        """
        for _, kind, index, ty in self.read_fields():
            yield kind, index, ty

    def read_fields(self) -> Iterable[Tuple[str, str, int, Optional[DType]]]:
        """:meth:`reads` with the field each read belongs to: (field, "r"|"p", index, type)."""
        for f, v in zip(self.spec.fields, self.values):
            if f.role in ("r", "rw") and v is not None and not isinstance(v, Imm):
                yield (f.name, "p" if f.kind in (PRED, OPTPRED) else "r", v, self.reg_type(f))
            elif f.role == "range":
                for r in range(v, v + self.count):
                    yield (f.name, "r", r, self.reg_type(f))
            elif f.kind in (GADDR, SADDR):
                regs = address_registers(v) if f.kind == GADDR else shared_address_registers(v)
                for reg in regs:
                    yield (f.name, "r", reg, DType.U64)


def shared_address_registers(addr: Address) -> Tuple[int, ...]:
    """Registers a shared-memory address reads (as u64): the handle part is never read;
    ``[rB ± D]`` reads rB (ISA 1.1 §12.2.3)."""
    if isinstance(addr, RegisterIndirect):
        return (addr.base,)
    if isinstance(addr, RegisterIndirectComputed):
        return (addr.offset_reg,)
    return ()


def address_registers(addr: Address) -> Tuple[int, ...]:
    """Registers a global address reads (as u64), in order."""
    if isinstance(addr, RegisterIndirect):
        return (addr.base,)
    if isinstance(addr, RegisterIndirectComputed):
        return (addr.handle_reg, addr.offset_reg)
    return ()


def registers_used(ins: Instruction) -> List[int]:
    """Every register index the instruction may read or write (for register allocation)."""
    out: List[int] = []
    for f, v in zip(ins.spec.fields, ins.values):
        if f.kind == REG or (f.kind == REGIMM and not isinstance(v, Imm)):
            if f.role == "range":
                out.extend(range(v, v + ins.count))
            else:
                out.append(v)
        elif f.kind in (GADDR, SADDR):
            out.extend(address_registers(v))
    return out


def check_types(ins: Instruction) -> None:
    """ISA.md §7.4 items 3 and 4 for one instruction (the context-free checks)."""
    spec = ins.spec
    if spec.types and "ty" in (f.name for f in spec.fields):
        if ins.ty not in spec.types:
            raise ProgramError(f"type {ins.ty.text} is not allowed for {spec.mnemonic.split('.')[0]}")
    v = spec.variant
    if v == "SETcc" and ins.cond >= Cond.LTU and not ins.ty.is_int:
        raise ProgramError(f"set{ins.cond.text} needs an integer type, got {ins.ty.text}")
    if v in ("ATOM", "ATOMS") and ins.op in (AtomOp.AND, AtomOp.OR, AtomOp.XOR) \
            and ins.ty not in T_WIDE_INT:
        raise ProgramError(f"{v.lower()}.{ins.op.text} needs an integer type, got {ins.ty.text}")
    if v.startswith("Reduce") and ins.src_base + ins.count > NUM_REGS:
        raise ProgramError(f"register range r{ins.src_base}+{ins.count} runs past r255")
    if v == "BRA" and ins.negate and ins.pred is None:
        raise ProgramError("bra: negate needs a predicate (bra.!pN)")
    for f, val in zip(spec.fields, ins.values):
        if isinstance(val, RegisterIndirectComputed) and val.scale not in SCALES:
            raise ProgramError(f"address scale {val.scale} is not 1, 2, 4 or 8")
        if f.kind in (GADDR, SADDR) and isinstance(val, PhiCoordinate):
            if val.cls >= 96 or val.page >= 48:
                raise ProgramError(f"Φ coordinate ({val.cls}, {val.page}, {val.byte}) out of range "
                                   "(class < 96, page < 48)")
