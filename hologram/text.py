"""The assembler for the text syntax of ISA.md §8, driven by :data:`isa.SPECS`.

The disassembler is :mod:`hologram.disasm` (re-exported here: ``format_instruction``,
``format_imm``).
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Optional, Tuple

from .disasm import format_imm, format_instruction
from .errors import AssemblyError, ProgramError
from .floats import float_to_bits
from .isa import (ATOMOP, COND, ENUMS, F64, GADDR, IDENT, IMM, INT_RANGES, LABEL, OPTPRED, PRED,
                  REG, SADDR, SCOPE, SPECS, SREG, TYPE, U8, U16, U32, U64, BufferOffset, DType,
                  Instruction, PhiCoordinate, RegisterIndirect, RegisterIndirectComputed, SReg,
                  Spec)
from .program import Program

__all__ = ["assemble", "format_instruction", "format_imm", "parse_float_imm"]

# --------------------------------------------------------------------------------------------
# Immediates (§8.3)


def parse_float_imm(ty: DType, text: str) -> int:
    """Bit pattern of a float literal for ``mov_imm.T`` (nearest f64, then ``cvt.T.f64``)."""
    return float_to_bits(ty, float(text))


# --------------------------------------------------------------------------------------------
# Lexer

_TOKEN = re.compile(r"""
    (?P<ws>[ \t]+)
  | (?P<num>0[xX][0-9A-Fa-f]+|(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[%@.]?[A-Za-z_\u03a6][A-Za-z0-9_.$]*)
  | (?P<punct>[\[\](),:+\-])
""", re.VERBOSE)


# Integer literals with more significant digits than this are out of every operand's range
# (they are never converted: int() refuses decimal text of more than 4,300 digits).
_MAX_DIGITS = 40


def _int_literal(text: str) -> Optional[int]:
    """The value of a decimal or 0x integer literal; None if it is too long for any range."""
    hexa = text[:2].lower() == "0x"
    body = (text[2:] if hexa else text).lstrip("0")
    if len(body) > _MAX_DIGITS:
        return None
    return int(body or "0", 16 if hexa else 10)


def _short(text: str) -> str:
    return text if len(text) <= 30 else f"{text[:12]}...{text[-8:]} ({len(text)} characters)"


class _Tok:
    __slots__ = ("kind", "text", "col")

    def __init__(self, kind: str, text: str, col: int):
        self.kind, self.text, self.col = kind, text, col

    def __repr__(self) -> str:
        return f"{self.text!r}@{self.col}"


def _strip_comment(line: str) -> str:
    cut = len(line)
    for marker in (";", "//", "#"):
        i = line.find(marker)
        if i >= 0:
            cut = min(cut, i)
    return line[:cut]


class _Line:
    """Tokens of one source line with a cursor; errors carry line/column."""

    def __init__(self, text: str, lineno: int):
        self.source = text
        self.lineno = lineno
        code = _strip_comment(text)
        self.toks: List[_Tok] = []
        pos = 0
        while pos < len(code):
            m = _TOKEN.match(code, pos)
            if not m:
                raise self.error(f"unexpected character {code[pos]!r}", pos + 1)
            if m.lastgroup is not None and m.lastgroup != "ws":
                self.toks.append(_Tok(m.lastgroup, m.group(), pos + 1))
            pos = m.end()
        self.i = 0
        self.end_col = len(code.rstrip()) + 1

    def error(self, message: str, col: Optional[int] = None) -> AssemblyError:
        if col is None:
            t = self.peek()
            col = t.col if t is not None else self.end_col
        return AssemblyError(message, self.lineno, col, self.source)

    def peek(self, k: int = 0) -> Optional[_Tok]:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def next(self, what: str) -> _Tok:
        t = self.peek()
        if t is None:
            raise self.error(f"expected {what}, got end of line")
        self.i += 1
        return t

    def expect(self, punct: str) -> _Tok:
        t = self.peek()
        if t is None or t.text != punct:
            raise self.error(f"expected {punct!r}, got " + (repr(t.text) if t else "end of line"))
        self.i += 1
        return t

    def accept(self, punct: str) -> bool:
        t = self.peek()
        if t is not None and t.kind == "punct" and t.text == punct:
            self.i += 1
            return True
        return False

    def expect_end(self, after: str) -> None:
        t = self.peek()
        if t is not None:
            raise self.error(f"unexpected {t.text!r} after {after}")

    # ---- operand parsers

    def uint(self, what: str, hi: int) -> int:
        t = self.next(what)
        if t.kind != "num" or not re.fullmatch(r"0[xX][0-9A-Fa-f]+|\d+", t.text):
            raise self.error(f"expected {what} (a non-negative integer), got {t.text!r}", t.col)
        v = _int_literal(t.text)
        if v is None or v > hi:
            shown = _short(t.text) if v is None else v
            raise self.error(f"{what} {shown} out of range [0, {hi}]", t.col)
        return v

    def indexed(self, prefix: str, hi: int, what: str) -> int:
        t = self.next(what)
        m = re.fullmatch(prefix + r"(\d+)", t.text, re.IGNORECASE) if t.kind == "word" else None
        v = _int_literal(m.group(1)) if m else None
        if v is None or v > hi:
            raise self.error(f"expected {what} ({prefix}0-{prefix}{hi}), got {_short(t.text)!r}",
                             t.col)
        return v

    def reg(self) -> int:
        return self.indexed("r", 255, "register")

    def label_ref(self) -> str:
        t = self.next("label")
        if t.kind != "word" or not t.text.startswith("@") or not IDENT.match(t.text[1:]):
            raise self.error(f"expected a label reference '@name', got {t.text!r}", t.col)
        return t.text[1:]

    def signed_number(self) -> Tuple[str, int]:
        """An optionally signed number or inf/nan word, returned as text (and its column)."""
        t = self.next("number")
        col = t.col
        sign = ""
        if t.kind == "punct" and t.text in "+-":
            sign = t.text
            t = self.next("number")
        if t.kind == "num" or (t.kind == "word" and t.text.lower() in ("inf", "infinity", "nan")):
            return sign + t.text, col
        raise self.error(f"expected a number, got {t.text!r}", t.col)

    def address(self, shared: bool) -> Any:
        self.expect("[")
        t = self.next("address")
        low = t.text.lower()
        if t.kind == "word" and re.fullmatch(r"buf(\d+|0x[0-9a-f]+)?", low):
            if low == "buf":                  # "buf" uint: the number may be a separate token
                handle = self.uint("buffer handle", INT_RANGES[U64])
            else:
                value = _int_literal(low[3:])
                if value is None or value > INT_RANGES[U64]:
                    raise self.error("buffer handle out of range", t.col)
                handle = value
            offset = self.uint("offset", INT_RANGES[U64]) if self.accept("+") else 0
            addr: Any = BufferOffset(handle, offset)
        elif t.kind == "word" and low in ("\u03c6", "phi"):
            self.expect("(")
            c = self.uint("class", 255)
            self.expect(",")
            p = self.uint("page", 255)
            self.expect(",")
            b = self.uint("byte", 255)
            self.expect(")")
            addr = PhiCoordinate(c, p, b)
        elif t.kind == "word" and re.fullmatch(r"r\d+", low):
            self.i -= 1
            base = self.reg()
            if self.accept("+"):
                nxt = self.peek()
                if nxt is not None and nxt.kind == "word":
                    addr = RegisterIndirectComputed(base, self.reg())
                else:
                    addr = RegisterIndirect(base, self.uint("offset", 2**31 - 1))
            elif self.accept("-"):
                addr = RegisterIndirect(base, -self.uint("offset", 2**31))
            else:
                addr = RegisterIndirect(base, 0)
        else:
            raise self.error(f"expected an address ([bufN + off], [Φ(c, p, b)], [rN + off] or "
                             f"[rH + rO]), got {t.text!r}", t.col)
        self.expect("]")
        return addr


def _parse_imm(line: _Line, ty: DType) -> int:
    text, col = line.signed_number()
    body = text.lstrip("+-")
    is_int = re.fullmatch(r"0[xX][0-9A-Fa-f]+|\d+", body) is not None
    if is_int and not text.startswith("+"):
        value = _int_literal(body)
        if value is None:
            raise line.error("immediate out of range", col)
        v = value
        if text.startswith("-"):
            if not ty.is_signed:
                raise line.error(f"negative immediate not allowed for {ty.text}", col)
            if v > 2**63:
                raise line.error("immediate out of range (>= -2^63)", col)
            return (-v) & (2**64 - 1)
        if v >= 2**64:
            raise line.error("immediate out of range (< 2^64)", col)
        return v
    if is_int:
        raise line.error("an integer immediate takes no '+' sign", col)
    if not ty.is_float:
        raise line.error(f"float literal not allowed for integer type {ty.text}", col)
    return parse_float_imm(ty, text)


def _parse_operand(line: _Line, spec: Spec, name: str, values: Dict[str, Any]) -> Any:
    kind = spec.field(name).kind
    if kind == REG:
        return line.reg()
    if kind == PRED:
        return line.indexed("p", 15, "predicate")
    if kind == LABEL:
        return line.label_ref()
    if kind in (GADDR, SADDR):
        return line.address(kind == SADDR)
    if kind == IMM:
        return _parse_imm(line, values["ty"])
    if kind == F64:
        text = line.signed_number()[0]
        body = text.lstrip("+-")
        if body[:2].lower() == "0x":          # number = [sign] uint | float; uint may be hex
            v = -int(body, 16) if text.startswith("-") else int(body, 16)
            try:
                return float(v)
            except OverflowError:                # nearest f64, as float("1e400") = inf
                return -math.inf if v < 0 else math.inf
        return float(text)
    if kind in (U8, U16, U32, U64):
        return line.uint(name, INT_RANGES[kind])
    if kind == SREG:
        t = line.next("special register")
        try:
            return SReg.parse(t.text)
        except ProgramError:
            raise line.error(f"expected a special register (%lane.x, %block.y, %gid, ...), "
                             f"got {t.text!r}", t.col) from None
    raise AssertionError(kind)


_MNEMONIC_CHOICES = {
    TYPE: "|".join(t.text for t in DType), COND: None, SCOPE: None, ATOMOP: None,
    SREG: "u32|u64",
}


def _mnemonic_regex(spec: Spec) -> "re.Pattern[str]":
    def repl(name: str) -> str:
        kind = spec.field(name).kind
        if kind == OPTPRED:
            return rf"(?:\.p(?P<{name}>\d+))?"
        choices = _MNEMONIC_CHOICES.get(kind) or "|".join(
            sorted((e.text for e in ENUMS[kind]), key=len, reverse=True))
        return f"(?P<{name}>{choices})"

    parts = re.split(r"(\{\w+\})", spec.mnemonic)
    pattern = "".join(repl(p[1:-1]) if p.startswith("{") else re.escape(p)
                      for p in parts)
    return re.compile(pattern + r"\Z", re.IGNORECASE)


_MNEMONICS = [(spec, _mnemonic_regex(spec)) for spec in SPECS]


def _parse_instruction(line: _Line) -> Instruction:
    tok = line.next("instruction")
    candidates = [(s, m) for s, r in _MNEMONICS if tok.kind == "word" for m in [r.match(tok.text)] if m]
    if not candidates:
        raise line.error(f"unknown instruction {tok.text!r}", tok.col)
    start = line.i
    best: Optional[AssemblyError] = None
    for spec, m in candidates:
        line.i = start
        try:
            values: Dict[str, Any] = {}
            for name, text in m.groupdict().items():
                kind = spec.field(name).kind
                if kind == OPTPRED:
                    index = None if text is None else _int_literal(text)
                    if text is not None and (index is None or index > 15):
                        raise line.error(f"predicate p{_short(text)} out of range (p0-p15)",
                                         tok.col)
                    values[name] = index
                elif kind == SREG:
                    values["_sreg_ty"] = DType.parse(text)
                else:
                    values[name] = text.lower() if kind != TYPE else DType.parse(text)
            for k, name in enumerate(spec.operands):
                if k:
                    line.expect(",")
                values[name] = _parse_operand(line, spec, name, values)
            line.expect_end("the operands")
            sreg_ty = values.pop("_sreg_ty", None)
            if sreg_ty is not None and sreg_ty != values["sreg"].dtype:
                raise line.error(f"{values['sreg'].text} is {values['sreg'].dtype.text}, "
                                 f"not {sreg_ty.text}", tok.col)
            try:
                return Instruction(spec.variant, **values)
            except ProgramError as e:
                raise line.error(e.message, tok.col) from None
        except AssemblyError as e:
            if best is None or e.column > best.column:
                best = e
    assert best is not None
    raise best


def _parse_directive(line: _Line, directives: Dict[str, Any]) -> None:
    tok = line.next("directive")
    name = tok.text.lower()
    if name in directives:
        raise line.error(f"duplicate directive {name}", tok.col)
    if name == ".kernel":
        t = line.next("kernel name")
        if t.kind != "word" or not IDENT.match(t.text):
            raise line.error(f"expected a kernel name, got {t.text!r}", t.col)
        directives[name] = t.text
    elif name == ".shared":
        directives[name] = line.uint("shared memory size", 2**64 - 1)
    elif name == ".block":
        dims = [line.uint("block extent", 2**32 - 1)]
        while len(dims) < 3 and line.accept(","):
            dims.append(line.uint("block extent", 2**32 - 1))
        directives[name] = tuple(dims + [1] * (3 - len(dims)))
    else:
        raise line.error(f"unknown directive {tok.text!r} (.kernel, .block, .shared)", tok.col)
    line.expect_end("the directive")


def _at_label(line: _Line) -> bool:
    """Does the line continue with a label definition (``name:``)?"""
    t, colon = line.peek(), line.peek(1)
    return t is not None and t.kind == "word" and colon is not None and colon.text == ":"


def assemble(text: str) -> Program:
    """Assemble ISA text (ISA.md §8) into a validated :class:`Program`.

    Raises :class:`AssemblyError` (with ``line`` and ``column``) for text that cannot be
    assembled or a program that fails validation.
    """
    if not isinstance(text, str):
        raise TypeError(f"assemble() takes a str, got {type(text).__name__}")
    instructions: List[Instruction] = []
    where: List[Tuple[int, int, str]] = []
    labels: Dict[str, int] = {}
    directives: Dict[str, Any] = {}
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = _Line(raw[:-1] if raw.endswith("\r") else raw, lineno)
        while _at_label(line):
            t = line.next("label")
            if not IDENT.match(t.text):
                raise line.error(f"invalid label name {t.text!r}", t.col)
            if t.text in labels:
                raise line.error(f"duplicate label {t.text!r}", t.col)
            labels[t.text] = len(instructions)
            line.expect(":")
        first = line.peek()
        if first is None:
            continue
        if first.text.startswith("."):
            _parse_directive(line, directives)
            continue
        col = first.col
        instructions.append(_parse_instruction(line))
        where.append((lineno, col, line.source))
    program = Program(instructions, labels, name=directives.get(".kernel"),
                      block=directives.get(".block"), shared_memory=directives.get(".shared"),
                      validate=False)
    try:
        program.validate()
    except AssemblyError:
        raise
    except ProgramError as e:
        if e.index is not None and e.index < len(where):
            lineno, col, source = where[e.index]
            raise AssemblyError(e.message, lineno, col, source) from None
        raise AssemblyError(e.message, 1, 1, text.split("\n", 1)[0]) from None
    return program
