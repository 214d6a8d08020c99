"""The Atlas ISA in one table (ISA.md §2-§6).

:data:`SPECS` lists every instruction once: its JSON variant, its fields in order (which is also
the register read order), its text form and the types it accepts. The assembler, disassembler,
JSON codec, validator, lowering and reference interpreter are all driven by this table.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Tuple, Union

from .errors import ProgramError

# --------------------------------------------------------------------------------------------
# Types, conditions, scopes, special registers, atomic operations


class DType(enum.IntEnum):
    """The 12 value types; the integer value is the ISA's type index."""
    I8 = 0
    I16 = 1
    I32 = 2
    I64 = 3
    U8 = 4
    U16 = 5
    U32 = 6
    U64 = 7
    F16 = 8
    BF16 = 9
    F32 = 10
    F64 = 11

    @property
    def text(self) -> str:
        return self.name.lower()

    @property
    def size(self) -> int:
        return _SIZES[self]

    @property
    def bits(self) -> int:
        return 8 * _SIZES[self]

    @property
    def is_int(self) -> bool:
        return self <= DType.U64

    @property
    def is_signed(self) -> bool:
        return self <= DType.I64

    @property
    def is_float(self) -> bool:
        return self >= DType.F16

    @property
    def numpy(self) -> str:
        """numpy dtype name holding this type's values (bf16 as its uint16 pattern)."""
        return _NUMPY[self]

    @classmethod
    def parse(cls, value: Union["DType", str, int]) -> "DType":
        """Accept a DType, a text or JSON name (``"f32"``, ``"F32"``) or an index."""
        if isinstance(value, DType):
            return value
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 12:
            return cls(value)
        raise ProgramError(f"unknown type {value!r}")


_SIZES = [1, 2, 4, 8, 1, 2, 4, 8, 2, 2, 4, 8]
_NUMPY = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "uint16", "float32", "float64"]

T_ALL: FrozenSet[DType] = frozenset(DType)
T_INT = frozenset(t for t in DType if t.is_int)
T_SIGNED = frozenset(t for t in DType if t.is_signed)
T_FLOAT = frozenset(t for t in DType if t.is_float)
T_WIDE = frozenset({DType.I32, DType.I64, DType.U32, DType.U64, DType.F32, DType.F64})
T_WIDE_INT = frozenset({DType.I32, DType.I64, DType.U32, DType.U64})


class _Named(enum.IntEnum):
    """An enum with a JSON name (the member name) and a text name."""

    @property
    def text(self) -> str:
        return self.name.lower()

    @property
    def json(self) -> str:
        return self.name

    @classmethod
    def parse(cls, value: Any):
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            for m in cls:
                if value in (m.json, m.text):
                    return m
        raise ProgramError(f"unknown {cls.__name__} {value!r}")


class Cond(_Named):
    EQ = 0
    NE = 1
    LT = 2
    LE = 3
    GT = 4
    GE = 5
    LTU = 6
    LEU = 7
    GTU = 8
    GEU = 9


class Scope(_Named):
    Thread = 0
    Block = 1
    Device = 2
    System = 3


class AtomOp(_Named):
    ADD = 0
    MIN = 1
    MAX = 2
    EXCH = 3
    AND = 4
    OR = 5
    XOR = 6


class ShflMode(_Named):
    """Source-lane rule of ``shfl`` (ISA.md §12.4)."""
    IDX = 0
    UP = 1
    DOWN = 2
    XOR = 3


class VoteMode(_Named):
    """Combination of ``vote`` (ISA.md §12.4)."""
    ANY = 0
    ALL = 1


WARP_SIZE = 32


class SReg(_Named):
    """Special-register operands of ``mov.T rD, %name`` (ISA.md §3.3)."""
    LaneX = 0
    LaneY = 1
    LaneZ = 2
    BlockX = 3
    BlockY = 4
    BlockZ = 5
    BlockDimX = 6
    BlockDimY = 7
    BlockDimZ = 8
    GridDimX = 9
    GridDimY = 10
    GridDimZ = 11
    GlobalId = 12
    LaneId = 13      # ISA 1.1 (§12.4): warp lane = linear lane index mod 32
    WarpId = 14      # ISA 1.1 (§12.4): linear lane index div 32

    @property
    def text(self) -> str:
        if self is SReg.GlobalId:
            return "%gid"
        if self in (SReg.LaneId, SReg.WarpId):
            return "%" + self.name.lower()
        base, axis = self.name[:-1], self.name[-1].lower()
        return f"%{ {'Lane': 'lane', 'Block': 'block', 'BlockDim': 'blockdim', 'GridDim': 'griddim'}[base] }.{axis}"

    @property
    def dtype(self) -> DType:
        return DType.U64 if self is SReg.GlobalId else DType.U32

    @classmethod
    def parse(cls, value: Any) -> "SReg":
        if isinstance(value, str) and value.startswith("%"):
            for m in cls:
                if m.text == value.lower():
                    return m
        return super().parse(value)


# --------------------------------------------------------------------------------------------
# Addresses (ISA.md §4.6)

@dataclass(frozen=True)
class BufferOffset:
    handle: int
    offset: int

    def __str__(self) -> str:
        return f"[buf{self.handle} + {self.offset}]"


@dataclass(frozen=True)
class PhiCoordinate:
    cls: int
    page: int
    byte: int

    def __str__(self) -> str:
        return f"[Φ({self.cls}, {self.page}, {self.byte})]"


@dataclass(frozen=True)
class RegisterIndirect:
    base: int
    offset: int

    def __str__(self) -> str:
        sign = "-" if self.offset < 0 else "+"
        return f"[r{self.base} {sign} {abs(self.offset)}]"


@dataclass(frozen=True)
class RegisterIndirectComputed:
    """``[rH + rO*S ± D]``: offset = rO · scale + disp (ISA 1.1 §12.2.1; 1.0: scale 1, disp 0)."""
    handle_reg: int
    offset_reg: int
    scale: int = 1
    disp: int = 0

    def __str__(self) -> str:
        scale = f"*{self.scale}" if self.scale != 1 else ""
        disp = f" {'-' if self.disp < 0 else '+'} {abs(self.disp)}" if self.disp else ""
        return f"[r{self.handle_reg} + r{self.offset_reg}{scale}{disp}]"


Address = Union[BufferOffset, PhiCoordinate, RegisterIndirect, RegisterIndirectComputed]

# JSON name, class, fields (JSON key, attribute, lower, upper)
ADDRESS_MODES: Dict[str, Tuple[type, Tuple[Tuple[str, str, int, int], ...]]] = {
    "BufferOffset": (BufferOffset, (("handle", "handle", 0, 2**64 - 1),
                                    ("offset", "offset", 0, 2**64 - 1))),
    "PhiCoordinate": (PhiCoordinate, (("class", "cls", 0, 255), ("page", "page", 0, 255),
                                      ("byte", "byte", 0, 255))),
    "RegisterIndirect": (RegisterIndirect, (("base", "base", 0, 255),
                                            ("offset", "offset", -2**31, 2**31 - 1))),
    "RegisterIndirectComputed": (RegisterIndirectComputed, (("handle_reg", "handle_reg", 0, 255),
                                                            ("offset_reg", "offset_reg", 0, 255),
                                                            ("scale", "scale", 1, 8),
                                                            ("disp", "disp", -2**31, 2**31 - 1))),
}
# Address fields that JSON may omit (and writers omit) when they hold their default (§12.2.1).
ADDRESS_DEFAULTS: Dict[str, int] = {"scale": 1, "disp": 0}
SCALES = (1, 2, 4, 8)


@dataclass(frozen=True)
class Imm:
    """An immediate last source operand (ISA 1.1 §12.1): ``value`` is the u64 bit pattern
    exactly as in ``MOV_IMM.value`` (a u32 for shift amounts and shuffle lanes)."""
    value: int


@dataclass(frozen=True)
class ParamDecl:
    """A ``.param rN TYPE[] NAME`` declaration (ISA 1.1 §12.6): register, element or scalar
    type, whether it is a buffer, optional name."""
    reg: int
    type: "DType"
    buffer: bool = False
    name: Optional[str] = None

    def __str__(self) -> str:
        name = f" {self.name}" if self.name is not None else ""
        return f".param r{self.reg} {self.type.text}{'[]' if self.buffer else ''}{name}"

    @property
    def label(self) -> str:
        """How launch errors name it: ``x (r1)`` or ``r1``."""
        return f"{self.name} (r{self.reg})" if self.name is not None else f"r{self.reg}"

# --------------------------------------------------------------------------------------------
# Field kinds

REG, PRED, OPTPRED, TYPE, LABEL, GADDR, SADDR = "reg", "pred", "optpred", "type", "label", "gaddr", "saddr"
U8, U16, U32, U64, F64, IMM = "u8", "u16", "u32", "u64", "f64", "imm"
COND, SCOPE, SREG, ATOMOP = "cond", "scope", "sreg", "atomop"
# ISA 1.1: a register or an Imm (§12.1); a flag (BRA/SEL "negate", §12.3); collective modes
REGIMM, FLAG, SHFLMODE, VOTEMODE = "regimm", "flag", "shflmode", "votemode"

INT_RANGES = {U8: 2**8 - 1, U16: 2**16 - 1, U32: 2**32 - 1, U64: 2**64 - 1, IMM: 2**64 - 1}
ENUMS = {COND: Cond, SCOPE: Scope, SREG: SReg, ATOMOP: AtomOp, SHFLMODE: ShflMode,
         VOTEMODE: VoteMode}


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


@dataclass(frozen=True)
class Spec:
    """One instruction of the ISA."""
    variant: str                 # JSON variant name
    fields: Tuple[Field, ...]    # in JSON and read order
    text: str                    # text template: "mnemonic.{field} {op}, {op}"
    types: FrozenSet[DType] = frozenset()   # accepted values of the "ty" field
    group: str = ""              # documentation section
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


def _binary(variant: str, types, group: str) -> Spec:
    # ISA 1.1 §12.1: the last source may be an immediate
    return Spec(variant, (TY, DST, _f("src1", REG, "r", "ty"), _f("src2", REGIMM, "r", "ty")),
                f"{variant.lower()}.{{ty}} {{dst}}, {{src1}}, {{src2}}", types, group)


def _unary(variant: str, types, group: str) -> Spec:
    return Spec(variant, (TY, DST, _f("src", REG, "r", "ty")),
                f"{variant.lower()}.{{ty}} {{dst}}, {{src}}", types, group)


def _reduce(op: str) -> Spec:
    return Spec(f"Reduce{op.capitalize()}", (TY, DST, _f("src_base", REG, "range", "ty"),
                                             _f("count", U32)),
                f"reduce.{op}.{{ty}} {{dst}}, {{src_base}}, {{count}}", T_ALL, "reduction")


def _atomic(variant: str, space: str) -> Spec:
    addr = _f("addr", GADDR if space == "atom" else SADDR)
    if variant.endswith("CAS"):
        return Spec(variant, (TY, DST, addr, _f("cmp", REG, "r", "ty"), _f("src", REG, "r", "ty")),
                    f"{space}.cas.{{ty}} {{dst}}, {{addr}}, {{cmp}}, {{src}}", T_WIDE, "atomic")
    return Spec(variant, (_f("op", ATOMOP), TY, DST, addr, _f("src", REG, "r", "ty")),
                f"{space}.{{op}}.{{ty}} {{dst}}, {{addr}}, {{src}}", T_WIDE, "atomic")


U8T, U32T, U64T = DType.U8, DType.U32, DType.U64

SPECS: Tuple[Spec, ...] = (
    # 5.1 data movement
    Spec("LDG", (TY, DST, _f("addr", GADDR)), "ldg.{ty} {dst}, {addr}", T_ALL, "memory"),
    Spec("STG", (TY, _f("src", REG, "r", "ty"), _f("addr", GADDR)), "stg.{ty} {addr}, {src}",
         T_ALL, "memory"),
    Spec("LDS", (TY, DST, _f("addr", SADDR)), "lds.{ty} {dst}, {addr}", T_ALL, "memory"),
    Spec("STS", (TY, _f("src", REG, "r", "ty"), _f("addr", SADDR)), "sts.{ty} {addr}, {src}",
         T_ALL, "memory"),
    Spec("MOV", (TY, DST, _f("src", REG, "r", "ty")), "mov.{ty} {dst}, {src}", T_ALL, "move"),
    Spec("MOV_IMM", (TY, DST, _f("value", IMM)), "mov_imm.{ty} {dst}, {value}", T_ALL, "move"),
    Spec("MOV_SREG", (_f("dst", REG, "w", "sreg"), _f("sreg", SREG)), "mov.{sreg} {dst}, {sreg}",
         frozenset(), "move"),
    Spec("CVT", (_f("src_ty", TYPE), _f("dst_ty", TYPE), _f("dst", REG, "w", "dst_ty"),
                 _f("src", REG, "r", "src_ty")), "cvt.{dst_ty}.{src_ty} {dst}, {src}", T_ALL, "move"),
    # 5.2 arithmetic
    _binary("ADD", T_ALL, "arith"), _binary("SUB", T_ALL, "arith"),
    _binary("MUL", T_ALL, "arith"), _binary("DIV", T_ALL, "arith"),
    _binary("REM", T_INT, "arith"),
    Spec("MAD", (TY, DST, _f("a", REG, "r", "ty"), _f("b", REG, "r", "ty"), _f("c", REG, "r", "ty")),
         "mad.{ty} {dst}, {a}, {b}, {c}", T_ALL, "arith"),
    Spec("FMA", (TY, DST, _f("a", REG, "r", "ty"), _f("b", REG, "r", "ty"), _f("c", REG, "r", "ty")),
         "fma.{ty} {dst}, {a}, {b}, {c}", T_FLOAT, "arith"),
    _binary("MIN", T_ALL, "arith"), _binary("MAX", T_ALL, "arith"),
    _unary("ABS", T_SIGNED | T_FLOAT, "arith"), _unary("NEG", T_SIGNED | T_FLOAT, "arith"),
    # 5.3 bitwise
    _binary("AND", T_INT, "bitwise"), _binary("OR", T_INT, "bitwise"),
    _binary("XOR", T_INT, "bitwise"), _unary("NOT", T_INT, "bitwise"),
    Spec("SHL", (TY, DST, _f("src", REG, "r", "ty"), _f("amount", REGIMM, "r", U32T)),
         "shl.{ty} {dst}, {src}, {amount}", T_INT, "bitwise"),
    Spec("SHR", (TY, DST, _f("src", REG, "r", "ty"), _f("amount", REGIMM, "r", U32T)),
         "shr.{ty} {dst}, {src}, {amount}", T_INT, "bitwise"),
    # 5.4 compare and select
    Spec("SETcc", (TY, _f("cond", COND), _f("dst", PRED, "w"), _f("src1", REG, "r", "ty"),
                   _f("src2", REGIMM, "r", "ty")), "set{cond}.{ty} {dst}, {src1}, {src2}",
         T_ALL, "compare"),
    # "negate" (ISA 1.1 §12.3) prints as "!" before the predicate: sel.T rD, !pP, rT, rF
    Spec("SEL", (TY, DST, _f("pred", PRED, "r"), _f("src_true", REG, "sel", "ty"),
                 _f("src_false", REG, "sel", "ty"), NEGATE),
         "sel.{ty} {dst}, {pred}, {src_true}, {src_false}", T_ALL, "compare"),
    # 6.1 control flow (bra.!pN: taken iff pN is false)
    Spec("BRA", (_f("target", LABEL), _f("pred", OPTPRED, "r"), NEGATE), "bra{pred} {target}",
         group="control"),
    Spec("CALL", (_f("target", LABEL),), "call {target}", group="control"),
    Spec("RET", (), "ret", group="control"),
    Spec("LOOP", (_f("count", REG, "rw", U32T), _f("body", LABEL)), "loop {count}, {body}",
         group="control"),
    Spec("EXIT", (), "exit", group="control"),
    Spec("BarSync", (_f("id", U8),), "bar.sync {id}", group="control"),
    Spec("MemFence", (_f("scope", SCOPE),), "memfence.{scope}", group="control"),
    # 5.7 reductions
    _reduce("add"), _reduce("min"), _reduce("max"), _reduce("mul"),
    # 5.6 transcendentals
    *(_unary(v, T_FLOAT, "transcendental") for v in
      ("EXP", "LOG", "LOG2", "LOG10", "SQRT", "RSQRT", "SIN", "COS", "TAN", "TANH", "SIGMOID")),
    _binary("POW", T_FLOAT, "transcendental"),
    # 5.8 atomics
    _atomic("ATOM", "atom"), _atomic("ATOM_CAS", "atom"),
    _atomic("ATOMS", "atoms"), _atomic("ATOMS_CAS", "atoms"),
    # 5.9 pools
    Spec("PoolAlloc", (_f("size", U64), _f("dst", REG, "w", U64T)), "pool.alloc {dst}, {size}",
         group="pool"),
    Spec("PoolFree", (_f("handle", REG, "r", U64T),), "pool.free {handle}", group="pool"),
    Spec("PoolLoad", (TY, _f("pool", REG, "r", U64T), _f("offset", REG, "r", U64T), DST),
         "pool.load.{ty} {dst}, {pool}, {offset}", T_ALL, "pool"),
    Spec("PoolStore", (TY, _f("pool", REG, "r", U64T), _f("offset", REG, "r", U64T),
                       _f("src", REG, "r", "ty")), "pool.store.{ty} {pool}, {offset}, {src}",
         T_ALL, "pool"),
    # 5.10 Atlas
    Spec("ClsGet", (_f("dst", REG, "w", U8T),), "cls.get {dst}", group="atlas"),
    Spec("MIRROR", (_f("dst", REG, "w", U8T), _f("src", REG, "r", U8T)), "mirror {dst}, {src}",
         group="atlas"),
    Spec("UnityTest", (_f("dst", PRED, "w"), _f("epsilon", F64)), "unity.test {dst}, {epsilon}",
         group="atlas"),
    Spec("NbrCount", (_f("class", REG, "r", U8T), _f("dst", REG, "w", U32T)),
         "nbr.count {dst}, {class}", group="atlas"),
    Spec("NbrGet", (_f("class", REG, "r", U8T), _f("index", U8), _f("dst", REG, "w", U8T)),
         "nbr.get {dst}, {class}, {index}", group="atlas"),
    Spec("ResAccum", (_f("class", REG, "r", U8T), _f("value", REG, "r", DType.F64)),
         "res.accum {class}, {value}", group="atlas"),
    Spec("PhaseGet", (_f("dst", REG, "w", U32T),), "phase.get {dst}", group="atlas"),
    Spec("PhaseAdv", (_f("delta", U16),), "phase.adv {delta}", group="atlas"),
    Spec("BoundMap", (_f("class", REG, "r", U8T), _f("page", REG, "r", U8T),
                      _f("byte", REG, "r", U8T), _f("dst", REG, "w", U64T)),
         "bound.map {dst}, {class}, {page}, {byte}", group="atlas"),
    # ---- ISA 1.1 (§12)
    # 12.3 predicate logic
    *(Spec(v, (_f("dst", PRED, "w"), _f("src1", PRED, "r"), _f("src2", PRED, "r")),
           f"{v[1:].lower()}.pred {{dst}}, {{src1}}, {{src2}}", group="predicate", since="1.1")
      for v in ("PAND", "POR", "PXOR")),
    Spec("PNOT", (_f("dst", PRED, "w"), _f("src", PRED, "r")), "not.pred {dst}, {src}",
         group="predicate", since="1.1"),
    # 12.4 warp collectives
    Spec("SHFL", (_f("mode", SHFLMODE), TY, DST, _f("src", REG, "r", "ty"),
                  _f("lane", REGIMM, "r", U32T)), "shfl.{mode}.{ty} {dst}, {src}, {lane}",
         T_ALL, "warp", "1.1"),
    Spec("VOTE", (_f("mode", VOTEMODE), _f("dst", PRED, "w"), _f("src", PRED, "r")),
         "vote.{mode} {dst}, {src}", group="warp", since="1.1"),
    Spec("BALLOT", (_f("dst", REG, "w", U32T), _f("src", PRED, "r")), "ballot.u32 {dst}, {src}",
         group="warp", since="1.1"),
    # 12.5 math
    *(Spec(v, (TY, DST, _f("src", REG, "r", "ty")), f"{v.lower()}.{{ty}} {{dst}}, {{src}}",
           T_FLOAT, "math", "1.1") for v in ("ERF", "EXP2", "FLOOR", "CEIL", "TRUNC", "ROUND")),
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
        return _check_int(value, 0, 255, f"{what} (register)")
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
        return _check_int(value, 0, 15, f"{what} (predicate)")
    if k == OPTPRED:
        return None if value is None else _check_int(value, 0, 15, f"{what} (predicate)")
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
        from .text import format_instruction
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
    if v.startswith("Reduce") and ins.src_base + ins.count > 256:
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
