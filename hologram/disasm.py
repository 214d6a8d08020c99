"""The disassembler: the canonical text of an instruction (ISA.md §8.4).

It sits below :class:`hologram.isa.Instruction`, whose ``str()`` it is: it needs only the
operand vocabulary (:mod:`hologram.operands`) and the float helpers, and reads everything else
from the instruction (its spec, field values and type).
"""

from __future__ import annotations

import decimal
import math
import re
from typing import Any

from .floats import CANONICAL_NAN, bits_to_float, float_to_bits
from .operands import F64, GADDR, IMM, LABEL, OPTPRED, PRED, REG, REGIMM, SADDR, SREG, DType, Imm

__all__ = ["format_instruction", "format_imm", "format_operand_imm"]


def format_imm(ty: DType, value: int) -> str:
    """``mov_imm`` operand as the disassembler prints it (§8.4)."""
    if ty.is_signed:
        return str(value - (1 << 64) if value >= 1 << 63 else value)
    if not ty.is_float:
        return str(value)
    if value >= 1 << ty.bits:
        return str(value)
    x = bits_to_float(ty, value)
    if math.isnan(x):
        sign = 1 << (ty.bits - 1)
        if value & ~sign == CANONICAL_NAN[ty]:
            return "-nan" if value & sign else "nan"
        return str(value)
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    # Shortest: for each digit count, try the correctly rounded decimal, then the ones just
    # below and above it (the nearest is not always inside the rounding interval, e.g. at
    # powers of two, where the interval is asymmetric).
    exact = decimal.Decimal(x)
    for digits in range(1, 18):
        s = f"{x:.{digits}g}"                # correctly rounded (half-even) to `digits` digits
        if float_to_bits(ty, float(s)) == value:
            return s if "." in s or "e" in s else s + ".0"
        quantum = decimal.Decimal(1).scaleb(exact.adjusted() - digits + 1)
        for rounding in (decimal.ROUND_FLOOR, decimal.ROUND_CEILING):
            cand = exact.quantize(quantum, rounding=rounding, context=_DEC_CTX)
            if float_to_bits(ty, float(cand)) == value:
                return _format_g(cand, digits)
    raise AssertionError(f"no decimal literal for {ty.text} {value:#x}")  # pragma: no cover


_DEC_CTX = decimal.Context(prec=60, Emin=-9999, Emax=9999)


def _format_g(d: "decimal.Decimal", precision: int) -> str:
    """A nonzero Decimal as Python's ``format(x, f'.{precision}g')`` would print it, plus
    ``.0`` when that has neither ``.`` nor an exponent."""
    sign, digit_tuple, exp = d.as_tuple()
    assert isinstance(exp, int)              # finite: not 'n', 'N' or 'F'
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    exp10 = exp + len(digits) - 1            # exponent of the leading digit
    digits = digits.rstrip("0")
    if -4 <= exp10 < precision:              # fixed notation
        if exp10 >= 0:
            s = digits[:exp10 + 1].ljust(exp10 + 1, "0") + "." + (digits[exp10 + 1:] or "0")
        else:
            s = "0." + "0" * (-exp10 - 1) + digits
    else:
        s = digits[0] + ("." + digits[1:] if len(digits) > 1 else "") + f"e{exp10:+03d}"
    return ("-" if sign else "") + s


def format_operand_imm(ty: DType, value: int) -> str:
    """An immediate operand (§12.1) as the disassembler prints it: as ``mov_imm`` does, except
    that a float pattern without a float literal prints in hex (a decimal integer would be read
    back as a value)."""
    text = format_imm(ty, value)
    return f"0x{value:x}" if ty.is_float and text.isdigit() else text


def _format_field(ins: Any, fld: Any, value: Any) -> str:
    kind = fld.kind
    if kind == REGIMM:
        if not isinstance(value, Imm):
            return f"r{value}"
        ty = ins.reg_type(fld)
        assert ty is not None
        return format_operand_imm(ty, value.value)
    if kind == REG:
        return f"r{value}"
    if kind in (PRED,):
        return ("!" if fld.name == "pred" and ins.args.get("negate") else "") + f"p{value}"
    if kind == LABEL:
        return f"@{value}"
    if kind in (GADDR, SADDR):
        return str(value)
    if kind == IMM:
        return format_imm(ins.ty, value)
    if kind == F64:
        return repr(value)
    if kind == SREG:
        return value.text
    return str(value)


def format_instruction(ins: Any) -> str:
    """Canonical text of one instruction (the original's Display form, §8.4): ``ins`` is a
    :class:`hologram.isa.Instruction` (its ``spec``, ``args`` and ``ty`` are read)."""
    spec = ins.spec
    args = ins.args

    def mnemonic_part(m: re.Match) -> str:
        name = m.group(1)
        kind = spec.field(name).kind
        value = args[name]
        if kind == OPTPRED:
            return "" if value is None else f".{'!' if args.get('negate') else ''}p{value}"
        if kind == SREG:
            return value.dtype.text
        return value.text

    mnemonic = re.sub(r"\{(\w+)\}", mnemonic_part, spec.mnemonic)
    ops = [_format_field(ins, spec.field(n), args[n]) for n in spec.operands]
    return mnemonic + (" " + ", ".join(ops) if ops else "")
