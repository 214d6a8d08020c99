"""The ``hologram`` command line (``python -m hologram``).

Subcommands: ``asm`` (text -> JSON), ``disasm`` (JSON -> text), ``validate``, ``run`` (a launch
with .npy buffers and typed scalars), ``bench`` (the benchmark harness of a source checkout),
``config`` (:func:`hologram.show_config`) and ``isa-reference`` (docs/reference.md).

Exit codes: 0 success; 1 an invalid program or a fault while running; 2 a usage error (bad
options or parameter syntax, an unreadable file, a rejected launch configuration); 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .errors import AssemblyError, ExecutionError, HologramError, LaunchConfigError

__all__ = ["main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

PROG = "hologram"

EPILOG = """\
exit codes: 0 success, 1 invalid program or fault while running, 2 usage error,
            130 interrupted (Ctrl-C)

examples:
  hologram asm kernel.hasm -o kernel.json
  hologram disasm kernel.json
  hologram validate kernel.hasm
  hologram run kernel.hasm --grid 4 --block 256 \\
      --param r1=@a.npy --param r2=@b.npy --param r3=zeros:f32:1000 --param r4=u64:1000 \\
      --out r3=c.npy
  hologram bench --quick            (source checkout only)
"""

RUN_EPILOG = """\
parameters (--param rN=VALUE, repeatable; instead of rN, a name the program declares with
.param):
  rN=@FILE.npy        a global buffer loaded from a .npy file (any dtype, bound in C order;
                      --out saves it with the file's shape)
  rN=zeros:DTYPE:SHAPE
                      a zero-filled buffer of a numpy dtype (f32, float32, u8, ...); SHAPE a
                      count N (1-D: zeros:f32:1024) or dimensions (zeros:f32:96x64, 2x3x4),
                      each at least 1; --out saves it with that shape
  rN=ones:DTYPE:SHAPE a buffer of ones (numeric dtypes; bf16 gets bfloat16's 1.0)
  rN=TYPE:VALUE       a typed scalar, TYPE one of i8 i16 i32 i64 u8 u16 u32 u64 f16 bf16 f32 f64;
                      VALUE an integer (decimal, 0x.., 0b.., 0o..) or, for float types, a float,
                      inf or nan
  rN=NUMBER           a scalar the program declares (.param rN TYPE NAME): converted to TYPE
outputs (--out rN=FILE.npy, repeatable): after the launch, the buffer bound to rN is saved.
"""


class UsageError(Exception):
    """A command-line mistake: reported with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:          # argparse exits 2 itself; keep its format
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# ---------------------------------------------------------------------------------------------
# Reading and writing programs

def _read_text(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read {path}: {e}") from None


def _write_text(path: Optional[str], text: str) -> None:
    if path is None or path == "-":
        sys.stdout.write(text)
        return
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e}") from None


def _looks_like_json(text: str) -> bool:
    return text.lstrip().startswith("{")


def _load_program(path: str, fmt: str = "auto") -> Any:
    """A program from ISA text or JSON (``fmt`` auto: JSON if the file starts with '{').
    Assembler warnings are printed as ``file:line:column: warning: ...``."""
    import warnings

    from .errors import AssemblyWarning
    from .program import Program
    from .text import assemble

    text = _read_text(path)
    if fmt == "json" or (fmt == "auto" and _looks_like_json(text)):
        return Program.from_json(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AssemblyWarning)
        try:
            return assemble(text)
        finally:
            where = "<stdin>" if path == "-" else path
            for w in caught:
                if isinstance(w.message, AssemblyWarning):
                    m = w.message
                    print(f"{where}:{m.line}:{m.column}: warning: {m.message}", file=sys.stderr)
                else:                                  # pragma: no cover - not ours
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _describe(path: str, e: HologramError) -> str:
    where = "<stdin>" if path == "-" else path
    if isinstance(e, AssemblyError):             # file:line:column: message, then the caret
        caret = str(e).partition("\n")[2]
        return f"{where}:{e.line}:{e.column}: {e.message}" + (f"\n{caret}" if caret else "")
    return f"{where}: {e}"


# ---------------------------------------------------------------------------------------------
# Launch arguments

def _parse_shape(text: str, what: str) -> Tuple[int, ...]:
    parts = [p for p in re.split(r"[,x ]", text.strip()) if p]
    try:
        dims = tuple(int(p, 0) for p in parts)
    except ValueError:
        dims = ()
    if not 1 <= len(dims) <= 3:
        raise UsageError(f"{what} must be 1-3 integers like 256, 16,16 or 8x8x4; got {text!r}")
    return dims


_TYPES = ("i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f16", "bf16", "f32", "f64")


def _parse_scalar(ty: str, value: str, where: str) -> Tuple[str, Any]:
    if ty in ("f16", "bf16", "f32", "f64"):
        try:
            return ty, float(value)
        except ValueError:
            try:
                return ty, float(int(value, 0))
            except ValueError:
                raise UsageError(f"{where}: {value!r} is not a number") from None
            except OverflowError:
                raise UsageError(f"{where}: {value!r} is out of the range of {ty}") from None
    try:
        return ty, int(value, 0)
    except ValueError:
        raise UsageError(f"{where}: {value!r} is not an integer ({ty} needs one)") from None


def _parse_buffer_shape(text: str) -> Optional[Tuple[int, ...]]:
    """A buffer's shape: a count ``N`` (decimal, 0x.., 0o.., 0b..) is 1-D, ``D0xD1[x...]`` (or
    ``D0,D1``; decimal dimensions) any rank. None if malformed or a dimension is below 1."""
    try:
        dims: Tuple[int, ...] = (int(text, 0),)
    except ValueError:
        parts = re.split(r"[x,]", text)
        if len(parts) < 2 or not all(re.fullmatch(r"[0-9]+", p) for p in parts):
            return None
        dims = tuple(int(p) for p in parts)
    return dims if all(d >= 1 for d in dims) else None


def _filled_buffer(kind: str, rest: str, where: str) -> Any:
    """``zeros:DTYPE:SHAPE`` or ``ones:DTYPE:SHAPE`` (``rest`` is ``DTYPE:SHAPE``)."""
    import numpy as np

    dtype, _, shape_text = rest.partition(":")
    try:
        dt = np.dtype(_NUMPY_ALIASES.get(dtype, dtype))
    except (TypeError, ValueError):
        dt = None
    shape = _parse_buffer_shape(shape_text)
    usage = (f"expected {kind}:DTYPE:SHAPE, SHAPE a count N or dimensions like 96x64, each at "
             f"least 1 (e.g. {kind}:f32:1024)")
    if dt is None:
        raise UsageError(f"{where}: unknown dtype {dtype!r}; {usage}")
    if shape is None:
        raise UsageError(f"{where}: bad shape {shape_text!r}; {usage}")
    if dt.hasobject:           # a kernel could read and overwrite the object pointers
        raise UsageError(f"{where}: dtype {dt} holds Python object references; use a "
                         f"numeric dtype")
    if kind == "ones" and dt.kind not in "biufc":
        raise UsageError(f"{where}: ones needs a numeric dtype, not {dt}")
    nbytes = dt.itemsize
    for d in shape:
        nbytes *= d
    if nbytes > sys.maxsize:
        raise UsageError(f"{where}: shape {shape_text!r} of {dt} is too large")
    try:
        if kind == "zeros":
            return np.zeros(shape, dt)
        # bf16 buffers hold bit patterns (uint16): 0x3F80 is bfloat16's 1.0.
        return np.full(shape, 0x3F80 if dtype == "bf16" else 1, dt)
    except (MemoryError, ValueError, OverflowError) as e:
        raise UsageError(f"{where}: cannot allocate shape {shape_text!r} of {dt} "
                         f"({nbytes} bytes): {e}") from None


def _load_npy(path: str, where: str) -> Any:
    """A .npy file's array, C-contiguous, with the file's shape (0-d included)."""
    import numpy as np

    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, MemoryError) as e:
        raise UsageError(f"{where}: cannot load {path}: {e}") from None
    if not isinstance(loaded, np.ndarray):        # an .npz archive
        loaded.close()
        raise UsageError(f"{where}: {path} is an .npz archive, not a .npy array (np.save)")
    # ascontiguousarray makes 0-d arrays 1-d: reshape keeps the file's shape for --out.
    return np.ascontiguousarray(loaded).reshape(loaded.shape)


def _parse_param(spec: str) -> Tuple[str, Any]:
    reg, sep, value = spec.partition("=")
    reg = reg.strip()
    where = f"--param {spec}"
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.$]*", reg):
        raise UsageError(f"{where}: expected rN=VALUE (rN=@file.npy, rN=zeros:DTYPE:SHAPE, "
                         f"rN=ones:DTYPE:SHAPE, rN=TYPE:VALUE or rN=NUMBER; rN or a declared "
                         f"name)")
    if value.startswith("@"):
        return reg, _load_npy(value[1:], where)
    head, _, rest = value.partition(":")
    if head in ("zeros", "ones"):
        return reg, _filled_buffer(head, rest, where)
    if head in _TYPES and rest:
        return reg, _parse_scalar(head, rest, where)
    for parse in (lambda v: int(v, 0), float):        # a bare number: declared scalars only
        try:
            return reg, parse(value)
        except ValueError:
            pass
    raise UsageError(f"{where}: unknown value {value!r}; use @file.npy, zeros:DTYPE:SHAPE, "
                     f"ones:DTYPE:SHAPE, TYPE:VALUE with TYPE in {' '.join(_TYPES)} or a number")


_NUMPY_ALIASES = {"i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64", "u8": "uint8",
                  "u16": "uint16", "u32": "uint32", "u64": "uint64", "f16": "float16",
                  "f32": "float32", "f64": "float64", "bf16": "uint16"}


def _parse_out(spec: str) -> Tuple[str, str]:
    reg, sep, path = spec.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.$]*", reg.strip()) or not path:
        raise UsageError(f"--out {spec}: expected rN=FILE.npy (rN or a declared name)")
    return reg.strip(), path


# ---------------------------------------------------------------------------------------------
# Subcommands

def _cmd_asm(args: argparse.Namespace) -> int:
    from .text import assemble
    prog = assemble(_read_text(args.file))
    _write_text(args.output, prog.to_json(indent=args.indent) + "\n")
    return EXIT_OK


def _cmd_disasm(args: argparse.Namespace) -> int:
    prog = _load_program(args.file, "json")
    _write_text(args.output, prog.disassemble())
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    prog = _load_program(args.file, args.format)
    prog.validate()
    if not args.quiet:
        name = f" {prog.name!r}" if prog.name else ""
        print(f"{args.file}: ok: program{name}, {len(prog)} instructions, "
              f"{len(prog.labels)} labels")
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from .backend import CpuBackend, LaunchConfig, ReferenceBackend

    params: Dict[str, Any] = {}
    for spec in args.param:
        reg, value = _parse_param(spec)
        if reg in params:
            raise UsageError(f"--param: {reg} given twice")
        params[reg] = value
    outs = [_parse_out(spec) for spec in args.out]
    for reg, _ in outs:
        if not isinstance(params.get(reg), np.ndarray):
            raise UsageError(f"--out {reg}=...: {reg} is not bound to a buffer "
                             f"(give --param {reg}=@file.npy or {reg}=zeros:DTYPE:SHAPE)")
    prog = _load_program(args.file, args.format)
    grid = _parse_shape(args.grid, "--grid") if args.grid else None
    block = _parse_shape(args.block, "--block") if args.block else None
    try:
        config = LaunchConfig(grid, block, args.shared_memory)
        backend = ReferenceBackend() if args.engine == "reference" else CpuBackend()
        result = backend.execute_program(prog, config, params, max_steps=args.max_steps,
                                         num_threads=args.threads)
    except ValueError as e:           # LaunchConfigError, bad num_threads
        if isinstance(e, HologramError) and not isinstance(e, LaunchConfigError):
            raise
        raise UsageError(str(e)) from None
    for reg, path in outs:
        try:
            np.save(path, params[reg])
        except OSError as e:
            raise UsageError(f"cannot write {path}: {e}") from None
    if not args.quiet:
        g, b, _ = config.resolve(prog)
        print(f"ok: grid {g}, block {b}, {result.num_threads} thread(s)"
              + "".join(f"; {reg} -> {path}" for reg, path in outs))
        if np.any(result.resonance):
            nz = np.flatnonzero(result.resonance)
            print("resonance: " + ", ".join(f"class {int(k)}: {float(result.resonance[k])!r}" for k in nz))
    return EXIT_OK


def _bench_script() -> Optional[Path]:
    """bench/run.py of the source checkout this package is imported from, if any."""
    here = Path(__file__).resolve().parent.parent
    script = here / "bench" / "run.py"
    in_checkout = (here / "hologram" / "_core.pyx").is_file()
    return script if in_checkout and script.is_file() else None


def _cmd_bench(argv: Sequence[str]) -> int:
    script = _bench_script()
    if script is None:
        print(f"{PROG} bench: error: the benchmark harness (bench/run.py) is part of the source "
              f"checkout, not of the installed package; run it from a clone of the project "
              f"(pip install -e . there, then {PROG} bench or python bench/run.py)",
              file=sys.stderr)
        return EXIT_ERROR
    return subprocess.call([sys.executable, str(script), *argv])


def _cmd_config(args: argparse.Namespace) -> int:
    from ._config import show_config
    show_config()
    return EXIT_OK


def _cmd_isa_reference(args: argparse.Namespace) -> int:
    from ._isadoc import render_reference
    text = render_reference()
    if args.check:
        if args.output is None:
            raise UsageError("--check needs -o FILE (the file to compare)")
        try:
            current = Path(args.output).read_text(encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot read {args.output}: {e}") from None
        if current != text:
            print(f"{args.output} is out of date; regenerate it with "
                  f"`{PROG} isa-reference -o {args.output}`", file=sys.stderr)
            return EXIT_ERROR
        return EXIT_OK
    if args.output is None or args.output == "-":
        sys.stdout.write(text)
    else:
        try:
            with open(args.output, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
        except OSError as e:
            raise UsageError(f"cannot write {args.output}: {e}") from None
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# The parser

def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = _Parser(prog=PROG, description="Assemble, check and run Atlas ISA programs on CPU cores.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    a = sub.add_parser("asm", help="assemble ISA text into program JSON",
                       description="Assemble ISA text (ISA.md §8) into program JSON (§9).")
    a.add_argument("file", metavar="FILE", help="ISA text file ('-': standard input)")
    a.add_argument("-o", "--output", metavar="OUT", help="JSON file (default: standard output)")
    a.add_argument("--indent", type=int, default=None, metavar="N", help="indent the JSON by N")
    a.set_defaults(func=_cmd_asm)

    d = sub.add_parser("disasm", help="disassemble program JSON into ISA text",
                       description="Disassemble program JSON (ISA.md §9) into canonical ISA text.")
    d.add_argument("file", metavar="FILE", help="JSON file ('-': standard input)")
    d.add_argument("-o", "--output", metavar="OUT", help="text file (default: standard output)")
    d.set_defaults(func=_cmd_disasm)

    fmt_help = "input format (default auto: JSON if the file starts with '{', else ISA text)"
    v = sub.add_parser("validate", help="check a program (text or JSON)",
                       description="Check a program (ISA.md §7.4): exit 0 if valid, 1 with the "
                                   "first error (line and column for text) if not.")
    v.add_argument("file", metavar="FILE", help="ISA text or JSON file ('-': standard input)")
    v.add_argument("--format", choices=["auto", "text", "json"], default="auto", help=fmt_help)
    v.add_argument("-q", "--quiet", action="store_true", help="print nothing when valid")
    v.set_defaults(func=_cmd_validate)

    r = sub.add_parser("run", help="launch a program on buffers from .npy files",
                       description="Launch a program (text or JSON) once.", epilog=RUN_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("file", metavar="FILE", help="ISA text or JSON file ('-': standard input)")
    r.add_argument("--format", choices=["auto", "text", "json"], default="auto", help=fmt_help)
    r.add_argument("--grid", metavar="G", help="grid extents: 4, 4,2 or 4x2x1 (default 1)")
    r.add_argument("--block", metavar="B",
                   help="block extents, at most 1024 lanes (default: the program's .block, else 1)")
    r.add_argument("--shared-memory", type=int, metavar="BYTES",
                   help="shared memory per block (default: the program's .shared, else 0)")
    r.add_argument("--param", action="append", default=[], metavar="rN=VALUE",
                   help="bind a parameter register (see below)")
    r.add_argument("--out", action="append", default=[], metavar="rN=FILE.npy",
                   help="save the buffer bound to rN after the launch")
    r.add_argument("--threads", type=int, metavar="N",
                   help="OpenMP threads (default: OMP_NUM_THREADS / CPU count; -1 all)")
    r.add_argument("--max-steps", type=int, metavar="N",
                   help="instructions per lane before StepLimitExceeded (default: no limit)")
    r.add_argument("--engine", choices=["vm", "reference"], default="vm",
                   help="the Cython VM (default) or the pure-Python reference interpreter")
    r.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    r.set_defaults(func=_cmd_run)

    b = sub.add_parser("bench", add_help=False,
                       help="run the benchmark harness bench/run.py (source checkout only); "
                            "arguments are passed on (--help shows its options)")
    b.add_argument("bench_args", nargs=argparse.REMAINDER)

    c = sub.add_parser("config", help="print version, build, threads and platform (show_config)",
                       description="Print hologram.show_config().")
    c.set_defaults(func=_cmd_config)

    i = sub.add_parser("isa-reference", help="write the instruction-set reference (Markdown)",
                       description="Write the instruction reference generated from the "
                                   "package's instruction table (docs/reference.md).")
    i.add_argument("-o", "--output", metavar="OUT", help="file (default: standard output)")
    i.add_argument("--check", action="store_true",
                   help="exit 1 if OUT differs from the generated text (write nothing)")
    i.set_defaults(func=_cmd_isa_reference)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    args_list: List[str] = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "bench":       # everything after it belongs to the harness
        return _cmd_bench(args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as e:                          # --help, --version, usage errors
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    file = getattr(args, "file", "-")
    try:
        return int(args.func(args))
    except UsageError as e:
        print(f"{PROG} {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:                        # Ctrl-C, hg.Interrupted included
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ExecutionError as e:
        print(f"{PROG} {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_ERROR
    except HologramError as e:
        print(f"{PROG} {args.command}: {type(e).__name__}: {_describe(file, e)}",
              file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:                          # e.g. `hologram disasm x.json | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK


if __name__ == "__main__":       # pragma: no cover
    sys.exit(main())
