"""The native tier: ISA programs compiled to vectorised machine code with llvmlite.

:func:`compile_launch` turns a validated program, for one (parameter types, block shape,
shared size), into a native block function (hologram/jit/codegen.py) run by
``_core.run_jit``; programs outside the compiled subset raise :class:`NotCompilable` naming
the instruction or reason. Compiled functions are cached in memory per key.
:func:`info` describes the tier for ``hg.show_config()``. docs/native-tier.md has the whole
story (what compiles, the engine policy).
"""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from ..errors import NotCompilable

CODEGEN_VERSION = 1

try:                                   # llvmlite is a dependency, but the VM runs without it
    import llvmlite
    import llvmlite.binding as llvm
    _IMPORT_ERROR: Optional[str] = None
except Exception as e:                 # pragma: no cover - depends on the installation
    llvm = None
    _IMPORT_ERROR = f"llvmlite cannot be imported: {type(e).__name__}: {e}"

_LOCK = threading.RLock()
_STATE: Dict[str, Any] = {}
# launches that ran compiled / on the interpreter under HOLOGRAM_ENGINE (tests count them)
COUNTS = {"jit": 0, "vm": 0}


def _target():
    """A new host target machine (an MCJIT engine owns and frees the one it is given)."""
    if "cpu" not in _STATE:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        from .. import _core
        from .codegen import F
        for name, offset in _core.jit_frame_fields().items():   # the C struct and FRAME agree
            if offset != 8 * F[name]:
                raise RuntimeError(f"JitFrame.{name} is at byte {offset}, codegen expects "
                                   f"{8 * F[name]}")
        llvm.add_symbol("hg_jit_poll", _core.jit_poll_address())
        _STATE.update(cpu=llvm.get_host_cpu_name(),
                      features=llvm.get_host_cpu_features().flatten(),
                      triple=llvm.get_process_triple())
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=_STATE["cpu"], features=_STATE["features"], opt=3,
                                        jit=True)


def available() -> bool:
    """True if llvmlite imports and HOLOGRAM_JIT is not 0."""
    return llvm is not None and os.environ.get("HOLOGRAM_JIT", "") != "0"


def unavailable_reason() -> str:
    if llvm is None:
        return _IMPORT_ERROR or "llvmlite is missing"
    if os.environ.get("HOLOGRAM_JIT", "") == "0":
        return "disabled by HOLOGRAM_JIT=0"
    return ""


def vector_width() -> int:
    """Lanes per chunk: 16 with AVX-512, else 8."""
    if not available():
        return 8
    with _LOCK:
        if "cpu" not in _STATE:
            _target()
        return 16 if "+avx512f" in _STATE["features"].split(",") else 8


@dataclass
class Compiled:
    """A compiled block function and the scratch layout it expects."""
    address: int
    nrows: int
    npreds: int
    lanes_padded: int
    width: int
    engine: Any              # the llvmlite execution engine (keeps the code alive)
    compile_seconds: float


def compile_launch(program, param_types, block: Tuple[int, int, int], shared_size: int,
                   count_steps: bool = False) -> Compiled:
    """The native block function of a program for these parameter types, block shape and
    shared size (cached); count_steps: for launches with max_steps. Raises NotCompilable."""
    if not available():
        raise NotCompilable(unavailable_reason())
    key = (tuple(param_types), tuple(block), int(shared_size), bool(count_steps))
    table = _table(program)
    hit = table.get(key)
    if isinstance(hit, Compiled):
        return hit
    if hit is not None:
        raise NotCompilable(hit)
    with _LOCK:
        hit = table.get(key)
        if isinstance(hit, Compiled):
            return hit
        if hit is not None:
            raise NotCompilable(hit)
        try:
            compiled = _compile(program, *key)
        except NotCompilable as e:
            table[key] = str(e)
            raise
        table[key] = compiled
        return compiled


def _table(program) -> Dict[Tuple[Any, ...], Any]:
    """The program's native-tier entries: key -> Compiled, or the reason it was declined
    (programs are immutable, so entries live as long as the program)."""
    t = program.__dict__.get("_jit_table")
    if t is None:
        t = program.__dict__.setdefault("_jit_table", {})
    return t


def cached(program, param_types, block, shared_size, count_steps: bool = False
           ) -> Optional[Compiled]:
    """The compiled function if it is in the in-memory cache, else None."""
    hit = _table(program).get((tuple(param_types), tuple(block), int(shared_size),
                               bool(count_steps)))
    return hit if isinstance(hit, Compiled) else None


def declined(program, param_types, block, shared_size, count_steps: bool = False
             ) -> Optional[str]:
    """Why this key was declined before, or None."""
    hit = _table(program).get((tuple(param_types), tuple(block), int(shared_size),
                               bool(count_steps)))
    return hit if isinstance(hit, str) else None


_INTERPRETED: Dict[Tuple[Any, ...], float] = {}
_PENDING: set = set()


def note_interpreted(program, param_types, block, shared_size, seconds: float,
                     threshold: float, count_steps: bool = False) -> None:
    """The "auto" policy: add an interpreted launch's time to its key; once the total reaches
    `threshold` seconds, compile the key on a background thread (never on the launch path)."""
    sub = (tuple(param_types), tuple(block), int(shared_size), bool(count_steps))
    if _table(program).get(sub) is not None:
        return
    key = (id(program),) + sub
    if key in _PENDING:
        return
    total = _INTERPRETED.get(key, 0.0) + seconds
    if total < threshold:
        if len(_INTERPRETED) > 4096:
            _INTERPRETED.clear()
        _INTERPRETED[key] = total
        return
    _INTERPRETED.pop(key, None)
    _PENDING.add(key)

    def work() -> None:
        try:
            compile_launch(program, *sub)
        except NotCompilable:
            pass
        finally:
            _PENDING.discard(key)

    threading.Thread(target=work, name="hologram-jit-compile", daemon=True).start()


def wait_background(timeout: float = 60.0) -> None:
    """Wait until background compiles started so far have finished (tests, benchmarks; at
    exit, so that no compile thread is cut off inside LLVM), at most `timeout` seconds."""
    import time
    end = time.monotonic() + timeout
    while _PENDING and time.monotonic() < end:
        time.sleep(0.001)


atexit.register(wait_background, 10.0)


def _compile(program, param_types, block, shared_size, count_steps) -> Compiled:
    import time
    from .. import verify
    from .codegen import generate
    t0 = time.perf_counter()
    if shared_size:
        raise NotCompilable("shared memory is not compiled yet")
    L = block[0] * block[1] * block[2]
    if L <= 0 or L > 1 << 20:
        raise NotCompilable(f"block of {L} lanes")
    if len(program) > 4096:
        raise NotCompilable(f"program of {len(program)} instructions (limit 4096)")
    # every register/predicate read must be proven initialised with its type (no tags)
    states = verify.reachable_states(program, verify.entry_types(param_types))
    for pc, ins in enumerate(program.instructions):
        reads = list(ins.reads())
        if ins.variant == "SEL":
            reads += [("r", ins.src_true, ins.ty), ("r", ins.src_false, ins.ty)]
        for kind, index, ty in reads:
            if not verify.proven(states[pc], kind, index, ty):
                what = f"p{index}" if kind == "p" else f"r{index}"
                raise NotCompilable(f"pc {pc}: the read of {what} needs a run-time check "
                                    f"(the verifier cannot prove its type)")
    tm = _target()
    width = 16 if "+avx512f" in _STATE["features"].split(",") else 8
    module, gen = generate(program, param_types, block, width, count_steps)
    text = str(module)
    mod = llvm.parse_assembly(text)
    mod.verify()
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    pto = llvm.create_pipeline_tuning_options(speed_level=2)
    pb = llvm.create_pass_builder(tm, pto)
    pm = pb.getModulePassManager()
    pm.run(mod, pb)
    ee = llvm.create_mcjit_compiler(mod, tm)
    ee.finalize_object()
    addr = ee.get_function_address("hg_block")
    return Compiled(addr, max(gen.nrows, 1), max(gen.npreds, 1), gen.Lp, width, ee,
                    time.perf_counter() - t0)


def info() -> Dict[str, Any]:
    """The native tier's state for show_config()."""
    if not available():
        return {"available": False, "reason": unavailable_reason()}
    with _LOCK:
        if "cpu" not in _STATE:
            _target()
        return {"available": True, "llvmlite": llvmlite.__version__,
                "llvm": ".".join(map(str, llvm.llvm_version_info)), "cpu": _STATE["cpu"],
                "triple": _STATE["triple"],
                "features": ",".join(f[1:] for f in _STATE["features"].split(",")
                                     if f.startswith("+")),
                "vector_width": 16 if "+avx512f" in _STATE["features"].split(",") else 8,
                "codegen_version": CODEGEN_VERSION}
