"""The assembler for the text syntax of ISA.md §8, driven by :data:`isa.SPECS`.

The disassembler is :mod:`hologram.disasm` (re-exported here: ``format_instruction``,
``format_imm``).
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any, Dict, List, Optional, Tuple

from .disasm import format_imm, format_instruction
from .errors import AssemblyError, AssemblyWarning, ProgramError
from .floats import bits_to_float, float_to_bits
from .isa import (ATOMOP, COND, ENUMS, F64, FLAG, GADDR, IDENT, IMM, INT_RANGES, LABEL, OPTPRED,
                  PRED, REG, REGIMM, SADDR, SCALES, SCOPE, SPECS, SREG, TYPE, U8, U16, U32, U64,
                  BufferOffset, DType, Imm, Instruction, ParamDecl, PhiCoordinate,
                  RegisterIndirect, RegisterIndirectComputed, SReg, Spec)
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
  | (?P<word>(?:@!?|[%.])?[A-Za-z_\u03a6](?:[A-Za-z0-9_$]|\.!?)*)
  | (?P<punct>[\[\](),:+\-*!])
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
        self.warnings: List[AssemblyWarning] = []
        self.operand_cols: Dict[str, int] = {}     # of the instruction's operands, by field

    def warn(self, message: str, col: int) -> None:
        self.warnings.append(AssemblyWarning(message, self.lineno, col, self.source))

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

    def at_end(self) -> bool:
        return self.i >= len(self.toks)

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
            raise self.error(f"expected {what} ({prefix}0-{prefix}{hi}), got {_short(t.text)!r}"
                             + _sreg_hint(t.text), t.col)
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
            star = self.peek()
            if star is not None and star.text == "*":
                # [rO*S ± D]: shared memory only, the handle part is rO itself (§12.2.2)
                if not shared:
                    raise self.error("a global address needs a handle register: "
                                     "[rH + rO*S ± D]", star.col)
                scale = self.scale()
                addr = RegisterIndirectComputed(base, base, scale, self.disp())
            elif self.accept("+"):
                nxt = self.peek()
                if nxt is not None and nxt.kind == "word":
                    offset = self.reg()
                    scale = self.scale() if self.peek() is not None and \
                        self.peek().text == "*" else 1          # type: ignore[union-attr]
                    addr = RegisterIndirectComputed(base, offset, scale, self.disp())
                else:
                    addr = RegisterIndirect(base, self.uint("offset", 2**31 - 1))
            elif self.accept("-"):
                addr = RegisterIndirect(base, -self.uint("offset", 2**31))
            else:
                addr = RegisterIndirect(base, 0)
        else:
            raise self.error(f"expected an address ([bufN + off], [Φ(c, p, b)], [rN + off] or "
                             f"[rH + rO*S + off]), got {t.text!r}", t.col)
        self.expect("]")
        return addr

    def scale(self) -> int:
        """``*S`` after an offset register, S in {1, 2, 4, 8} (§12.2.1)."""
        self.expect("*")
        t = self.peek()
        s = self.uint("scale", 2**64 - 1)
        if s not in SCALES:
            raise self.error(f"scale must be 1, 2, 4 or 8, got {s}", t.col if t else None)
        return s

    def disp(self) -> int:
        """An optional ``+ D`` / ``- D`` (D ≤ 2^31 - 1 / 2^31: the i32 range of ``disp``)."""
        if self.accept("+"):
            return self.uint("displacement", 2**31 - 1)
        if self.accept("-"):
            return -self.uint("displacement", 2**31)
        return 0


def _imm_value(line: _Line, ty: DType, text: str, col: int, hi: int = 2**64 - 1) -> int:
    """The ``mov_imm`` rules of §8.3 for a literal of type ``ty`` (integers up to ``hi``)."""
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
        if v > hi:
            raise line.error(f"immediate out of range (< 2^{hi.bit_length()})", col)
        return v
    if is_int:
        raise line.error("an integer immediate takes no '+' sign", col)
    if not ty.is_float:
        raise line.error(f"float literal not allowed for integer type {ty.text}", col)
    return parse_float_imm(ty, text)


def _parse_imm(line: _Line, ty: DType) -> int:
    """``mov_imm``'s literal; a decimal integer for a float type warns (§12.7)."""
    text, col = line.signed_number()
    value = _imm_value(line, ty, text, col)
    if ty.is_float and text.isdigit() and value:
        pattern = value & ((1 << ty.bits) - 1)
        line.warn(f"mov_imm.{ty.text} with the integer literal {text} stores the bit pattern "
                  f"{value} ({bits_to_float(ty, pattern):.2g}); write {value}.0 for the value, "
                  f"or {value:#x} for the bit pattern", col)
    return value


def _parse_operand_imm(line: _Line, ty: DType) -> Imm:
    """An immediate operand (§12.1): ``mov_imm``'s rules, except that for a float type a
    decimal integer means its value; shift amounts and shuffle lanes are u32."""
    text, col = line.signed_number()
    if ty.is_float and text.lstrip("+-").isdigit():
        return Imm(parse_float_imm(ty, text))
    return Imm(_imm_value(line, ty, text, col, INT_RANGES[U32] if ty == DType.U32 else
                          INT_RANGES[U64]))


def _parse_operand(line: _Line, spec: Spec, name: str, values: Dict[str, Any]) -> Any:
    fld = spec.field(name)
    kind = fld.kind
    if kind == REG:
        return line.reg()
    if kind == REGIMM:
        t = line.peek()
        if t is not None and t.kind == "word" and re.fullmatch(r"[rR]\d+", t.text):
            return line.reg()
        ty = DType.U32 if fld.rtype == DType.U32 else values["ty"]
        return _parse_operand_imm(line, ty)
    if kind == PRED:
        if name == "pred" and any(f.kind == FLAG for f in spec.fields) and line.accept("!"):
            values["negate"] = True           # sel.T rD, !pP, rT, rF (§12.3)
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
            raise line.error(f"expected a special register (%lane.x, %block.y, %gid, %laneid, "
                             f"...), got {t.text!r}" + _sreg_hint(t.text), t.col) from None
    raise AssertionError(kind)


_MNEMONIC_CHOICES = {
    TYPE: "|".join(t.text for t in DType), COND: None, SCOPE: None, ATOMOP: None,
    SREG: "u32|u64",
}


def _mnemonic_regex(spec: Spec) -> "re.Pattern[str]":
    def repl(name: str) -> str:
        kind = spec.field(name).kind
        if kind == OPTPRED:                 # bra.pN, and bra.!pN when the spec can negate
            neg = "(?P<negate>!)?" if any(f.kind == FLAG for f in spec.fields) else ""
            return rf"(?:\.{neg}p(?P<{name}>\d+))?"
        choices = _MNEMONIC_CHOICES.get(kind) or "|".join(
            sorted((e.text for e in ENUMS[kind]), key=len, reverse=True))
        return f"(?P<{name}>{choices})"

    parts = re.split(r"(\{\w+\})", spec.mnemonic)
    pattern = "".join(repl(p[1:-1]) if p.startswith("{") else re.escape(p)
                      for p in parts)
    return re.compile(pattern + r"\Z", re.IGNORECASE)


_MNEMONICS = [(spec, _mnemonic_regex(spec)) for spec in SPECS]


# PTX spellings (§12.7): modifiers without meaning here, and PTX names of types and operations
_PTX_DROP = {"sync", "lo", "rn", "rz", "rm", "rp", "rni", "rzi", "rmi", "rpi", "approx", "full",
             "ftz", "sat", "uni", "aligned", "nc", "ca", "cg", "cs", "volatile", "relaxed",
             "acquire", "release", "gpu", "cta", "sys"}
_PTX_TYPES = {"s8": "i8", "s16": "i16", "s32": "i32", "s64": "i64", "b8": "u8", "b16": "u16",
              "b32": "u32", "b64": "u64"}
_PTX_CMP = {"lo": "ltu", "ls": "leu", "hi": "gtu", "hs": "geu"}
_PTX_OPS = {"ex2": "exp2", "lg2": "log2", "selp": "sel", "red": "atom", "fence": "memfence",
            "membar": "memfence"}
_PTX_SCOPES = {"cta": "block", "gl": "device", "gpu": "device", "sys": "system"}
_PTX_SREGS = {"tid": "lane", "ctaid": "block", "ntid": "blockdim", "nctaid": "griddim"}


def _sreg_hint(text: str) -> str:
    """For a ``%name`` where an operand was expected: how to read it (or its PTX name's
    equivalent), else ""."""
    if not text.startswith("%"):
        return ""
    try:
        s = SReg.parse(text)
        return f" (read {s.text} with mov.{s.dtype.text} rD, {s.text})"
    except ProgramError:
        pass
    m = re.fullmatch(r"%(tid|ctaid|ntid|nctaid)(\.[xyz])?", text.lower())
    return f" (PTX {text} is %{_PTX_SREGS[m.group(1)]}{m.group(2) or '.x'})" if m else ""


def _ptx_hint(word: str) -> Optional[str]:
    """This ISA's spelling of a PTX mnemonic (``ld.global.f32`` -> ``ldg.f32``), or None."""
    head, *mods = word.lower().split(".")
    if head in ("membar", "fence"):
        scope = next((_PTX_SCOPES[m] for m in mods if m in _PTX_SCOPES), "device")
        return f"memfence.{scope}"
    if head == "vote" and "ballot" in mods:
        return "ballot.u32"
    space = "shared" if "shared" in mods else "global" if "global" in mods else None
    mods = [_PTX_TYPES.get(m, m) for m in mods if m not in _PTX_DROP and m not in
            ("global", "shared", "pred")]
    head = _PTX_OPS.get(head, head)
    if head in ("ld", "st"):
        rest = ".".join(mods) or "T"
        if space is None:
            return f"{head}g.{rest} (global) or {head}s.{rest} (shared)"
        return f"{head}{'g' if space == 'global' else 's'}.{rest}"
    elif head == "atom" and space == "shared":
        head = "atoms"
    elif head == "setp" and mods:
        head, mods = "set" + _PTX_CMP.get(mods[0], mods[0]), mods[1:]
    if head == "shfl" and len(mods) == 2:
        return f"shfl.{mods[0]}.T (T: the value's type, e.g. shfl.{mods[0]}.f32)"
    candidate = ".".join([head] + mods)
    if candidate != word.lower() and any(r.match(candidate) for _, r in _MNEMONICS):
        return candidate
    return None


def _parse_instruction(line: _Line) -> Instruction:
    tok = line.next("instruction")
    if tok.text.startswith("@") and re.fullmatch(r"@!?[pP]\d+", tok.text):
        neg = tok.text.startswith("@!")
        raise line.error(f"predicated instructions ({tok.text} ...) are not part of this ISA: "
                         f"branch around the instruction with bra.{'' if neg else '!'}"
                         f"p{tok.text.lstrip('@!')[1:]} @skip", tok.col)
    candidates = [(s, m) for s, r in _MNEMONICS if tok.kind == "word" for m in [r.match(tok.text)] if m]
    if not candidates:
        hint = _ptx_hint(tok.text) if tok.kind == "word" else None
        raise line.error(f"unknown instruction {tok.text!r}" +
                         (f": this ISA spells it {hint}" if hint else ""), tok.col)
    if tok.text.lower() == "bar.sync" and line.at_end():
        raise line.error("bar.sync needs a barrier id: write bar.sync 0", line.end_col)
    start = line.i
    best: Optional[AssemblyError] = None
    for spec, m in candidates:
        line.i = start
        try:
            values: Dict[str, Any] = {}
            for name, text in m.groupdict().items():
                kind = spec.field(name).kind
                if kind == FLAG:
                    values[name] = text is not None
                elif kind == OPTPRED:
                    index = None if text is None else _int_literal(text)
                    if text is not None and (index is None or index > 15):
                        raise line.error(f"predicate p{_short(text)} out of range (p0-p15)",
                                         tok.col)
                    values[name] = index
                elif kind == SREG:
                    values["_sreg_ty"] = DType.parse(text)
                else:
                    values[name] = text.lower() if kind != TYPE else DType.parse(text)
            line.operand_cols = {}
            for k, name in enumerate(spec.operands):
                if k:
                    line.expect(",")
                nxt = line.peek()
                line.operand_cols[name] = nxt.col if nxt is not None else line.end_col
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


def _parse_param(line: _Line, params: List[ParamDecl]) -> None:
    """``.param rN TYPE [NAME]`` / ``.param rN TYPE[] [NAME]`` (§12.6)."""
    t = line.peek()
    reg = line.reg()
    if any(p.reg == reg for p in params):
        raise line.error(f"r{reg} is declared twice", t.col if t else None)
    t = line.next("parameter type")
    try:
        ty = DType.parse(t.text) if t.kind == "word" else None
    except ProgramError:
        ty = None
    if ty is None:
        raise line.error(f"expected a type ({' '.join(d.text for d in DType)}), got {t.text!r}",
                         t.col)
    buffer = line.accept("[")
    if buffer:
        line.expect("]")
    name = None
    t = line.peek()
    if t is not None:
        if t.kind != "word" or not IDENT.match(t.text):
            raise line.error(f"expected a parameter name, got {t.text!r}", t.col)
        if re.fullmatch(r"[rR]\d+", t.text):      # launch keys "r5" mean registers
            raise line.error(f"parameter name {t.text!r} looks like a register", t.col)
        if any(p.name == t.text for p in params):
            raise line.error(f"parameter name {t.text!r} is declared twice", t.col)
        name = line.next("name").text
    line.expect_end("the directive")
    params.append(ParamDecl(reg, ty, buffer, name))


def _parse_directive(line: _Line, directives: Dict[str, Any]) -> None:
    tok = line.next("directive")
    name = tok.text.lower()
    if name == ".param":
        _parse_param(line, directives.setdefault(".param", []))
        return
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
        raise line.error(f"unknown directive {tok.text!r} (.kernel, .block, .shared, .param)",
                         tok.col)
    line.expect_end("the directive")


def _at_label(line: _Line) -> bool:
    """Does the line continue with a label definition (``name:``)?"""
    t, colon = line.peek(), line.peek(1)
    return t is not None and t.kind == "word" and colon is not None and colon.text == ":"


def _operand_column(toks: List[_Tok], start: int, operand: str) -> int:
    """Column of register/predicate ``operand`` ("r20", "p3") from column ``start`` on; a
    predicate in the mnemonic (``bra.!p3``) is found inside it."""
    for t in toks:
        low = t.text.lower()
        if t.col >= start and low == operand:
            return t.col
        if t.col == start and re.search(rf"\.!?{operand}\Z", low):
            return t.col + len(low) - len(operand)
    return start


def assemble(text: str) -> Program:
    """Assemble ISA text (ISA.md §8, §12) into a validated :class:`Program`.

    Raises :class:`AssemblyError` (with ``line`` and ``column``) for text that cannot be
    assembled or a program that fails validation; emits :class:`AssemblyWarning` for legal
    text that is probably a mistake (§12.7).
    """
    if not isinstance(text, str):
        raise TypeError(f"assemble() takes a str, got {type(text).__name__}")
    instructions: List[Instruction] = []
    where: List[Tuple[int, int, str, List[_Tok], Dict[str, int]]] = []
    labels: Dict[str, int] = {}
    directives: Dict[str, Any] = {}
    found: List[AssemblyWarning] = []
    try:
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
            try:
                instructions.append(_parse_instruction(line))
            finally:
                found.extend(line.warnings)
            where.append((lineno, col, line.source, line.toks, line.operand_cols))
    finally:
        for w in found:
            warnings.warn(w, stacklevel=2)
    program = Program(instructions, labels, name=directives.get(".kernel"),
                      block=directives.get(".block"), shared_memory=directives.get(".shared"),
                      params=directives.get(".param", ()), validate=False)
    try:
        program.validate()
    except AssemblyError:
        raise
    except ProgramError as e:
        if e.index is not None and e.index < len(where):
            lineno, col, source, toks, cols = where[e.index]
            if e.operand is not None:         # point at the register a static error names
                col = _operand_column(toks, cols.get(e.field or "", col), e.operand)
            raise AssemblyError(e.message, lineno, col, source) from None
        raise AssemblyError(e.message, 1, 1, text.split("\n", 1)[0]) from None
    return program
