"""What the fields of an instruction hold (ISA.md §2-§4): the value types, conditions, scopes,
special registers, atomic operations, addresses, and the field kinds naming them.

The bottom of the ISA description: :mod:`hologram.floats` and the disassembler
(:mod:`hologram.disasm`) build on it, :mod:`hologram.isa` (which re-exports every name here)
describes the instructions.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Optional, Tuple, Union

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
