"""Fuzzing hologram: the VM is a sandbox (no input crashes the process or escapes its memory).

Targets (``--target``):

* ``asm``  -- :func:`hologram.assemble` on random text and on mutations of a corpus of valid
  kernels (ISA.md examples, the test and benchmark kernels, disassembled random programs);
  programs that assemble must also survive disassemble -> assemble and JSON round trips.
* ``json`` -- :meth:`Program.from_json` on mutated JSON (structure-aware: values replaced by
  random JSON of any type, keys dropped/added, deep nesting) and on mutated text.
* ``vm``   -- launches of random programs (valid ones from ``isa_testlib.programs``, and
  invalid ones with ``validate=False``) with random launch configurations, random parameters
  (arrays of any dtype, size, alignment and writability, bytes, typed scalars, junk such as
  object arrays, which must be refused), random host buffers and pools, ``max_steps`` and
  ``timeout``. Parameter arrays are windows of larger arrays whose guard bytes must be
  unchanged after the launch. Every launch runs on the VM with 1 and 2 threads; small ones
  also on the reference interpreter.
* ``diff`` -- differential fuzzing: random valid programs of ``test_differential``'s generator
  (all families, including planted faults) compared between the reference interpreter and the
  VM with 1 and 2 threads (buffers, resonance and the reported error).

Any exception that is not a :class:`hologram.HologramError` (or a documented ``TypeError`` /
``ValueError`` of the host API), any disagreement, changed guard bytes, and any crash of the
process is a finding. Runs are supervised: the fuzzing loop runs in a child process which
writes every input to ``<out>/current-<target>.txt`` before running it; if the child dies
(segfault, abort, sanitizer report), the supervisor keeps that input as
``<out>/crash-<target>-<n>.txt``, reports it and starts a new child with another seed.

Usage::

    python tests/fuzz.py --target all --seconds 60          # 60 s per target
    python tests/fuzz.py --target diff --seconds 600 --seed 7
    python tests/fuzz.py --target vm --seconds 30 --no-fork   # in-process (debugging)

Prints one JSON summary per target (executions, rate, findings). Exit status 1 if anything
was found. ``tests/test_fuzz_smoke.py`` runs a few seconds of each target in the default test
suite; ``pytest --runslow`` runs a longer session.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(HERE), str(ROOT)):
    if p not in sys.path:
        sys.path.insert(0, p)

import numpy as np  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import hologram as hg  # noqa: E402

TARGETS = ("asm", "json", "vm", "diff")
_crash = os.environ.get("HOLOGRAM_FUZZ_SELFTEST_CRASH")   # crash the child at this execution
_SELFTEST_CRASH_AT = int(_crash) if _crash else None
_hang = os.environ.get("HOLOGRAM_FUZZ_SELFTEST_HANG")     # hang the child at this execution
_SELFTEST_HANG_AT = int(_hang) if _hang else None
HANG_SECONDS = 30.0      # an input running longer than this is reported as a hang

# ---------------------------------------------------------------------------------------------
# Bookkeeping shared by the targets


class Stats:
    def __init__(self, target: str, out: Path, deadline: float, max_execs: Optional[int]):
        self.target = target
        self.out = out
        self.deadline = deadline
        self.seconds = deadline - time.monotonic()
        self.max_execs = max_execs
        self.execs = 0
        self.outcomes: Dict[str, int] = {}
        self.findings: List[Dict[str, Any]] = []
        self.current = out / f"current-{target}.txt"

    def begin(self) -> None:
        """Start the clock after the target's setup (corpus building)."""
        self.deadline = time.monotonic() + self.seconds

    def done(self) -> bool:
        return time.monotonic() >= self.deadline or (
            self.max_execs is not None and self.execs >= self.max_execs)

    def record_input(self, text: str) -> None:
        """Write the input about to run (the supervisor keeps it if the process dies)."""
        with open(self.current, "w", encoding="utf-8", errors="replace") as f:
            f.write(text)
        if _SELFTEST_CRASH_AT is not None and self.execs == _SELFTEST_CRASH_AT:
            import ctypes      # tests/test_fuzz_smoke.py: a real SIGSEGV the supervisor must see
            ctypes.string_at(0)
        if _SELFTEST_HANG_AT is not None and self.execs == _SELFTEST_HANG_AT:
            time.sleep(3600)

    def count(self, outcome: str) -> None:
        self.execs += 1
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if self.execs % 20 == 0:          # the supervisor's count if this process dies
            (self.out / f"progress-{self.target}.json").write_text(json.dumps(
                {"execs": self.execs, "outcomes": self.outcomes, "findings": self.findings}))

    def finding(self, kind: str, text: str, exc: BaseException) -> None:
        n = len(self.findings)
        path = self.out / f"finding-{self.target}-{os.getpid()}-{n}.txt"
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        path.write_text(f"{kind}\n\n{text}\n\n{tb}", encoding="utf-8", errors="replace")
        self.findings.append({"kind": kind, "error": repr(exc)[:300], "file": path.name})
        print(f"[fuzz {self.target}] FINDING {kind}: {exc!r:.200} -> {path}", file=sys.stderr,
              flush=True)


# ---------------------------------------------------------------------------------------------
# Corpus of valid programs


def corpus() -> List[str]:
    """Source texts of valid kernels: ISA.md examples, test and benchmark kernels."""
    import isa_testlib
    texts = [isa_testlib.VECTOR_ADD, isa_testlib.VECTOR_ADD_CANONICAL, isa_testlib.BLOCK_SUM]
    for modname in ("test_kernels", "test_threads"):
        try:
            mod = __import__(modname)
        except Exception:              # pragma: no cover - optional
            continue
        for name in dir(mod):
            v = getattr(mod, name)
            if isinstance(v, str) and name.isupper() and "\n" in v:
                texts.append(v)
            elif isinstance(v, hg.Program):
                texts.append(v.disassemble())
    bench = ROOT / "bench" / "kernels.py"
    if bench.exists():
        ns: Dict[str, Any] = {}
        try:
            exec(compile(bench.read_text(), str(bench), "exec"), ns)
        except Exception:              # pragma: no cover - bench needs extras
            ns = {}
        texts += [v for k, v in ns.items() if k.isupper() and isinstance(v, str) and "\n" in v]
    good = []
    for t in texts:
        try:
            hg.assemble(t)
            good.append(t)
        except hg.HologramError:
            pass
    return good


TOKENS = ["add", "sub", "mul", "div", "rem", "mad", "fma", "ldg", "stg", "lds", "sts", "mov",
          "mov_imm", "cvt", "setlt", "setgeu", "sel", "bra", "call", "ret", "loop", "exit",
          "bar.sync", "atom.add", "atom.cas", "atoms.max", "pool.alloc", "pool.free",
          "pool.load", "pool.store", "reduce.add", "cls.get", "mirror", "nbr.get", "res.accum",
          "phase.get", "bound.map", "unity.test", ".u8", ".i64", ".f16", ".bf16", ".f32", ".f64",
          ".u64", ".p0", ".global", ".shared", ".block", ".kernel", "r0", "r255", "r256", "r-1",
          "p15", "p16", "%lane.x", "%gid", "%block.z", "@L", "L:", "[", "]", "+", "-", ",", ";",
          "buf0", "phi(", ")", "0", "1", "-1", "0x", "0xffffffffffffffff", "18446744073709551616",
          "nan", "inf", "-inf", "1e309", "1.5", "-0.0", "\n", " ", "\t", "\x00", "é", "\u202e",
          "#", "//", "/*", "'", '"', "\\", "99999999999999999999999999999"]


def mutate_text(rng: random.Random, text: str, pool: List[str]) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(10)
        if op == 0 and lines:                               # delete a line
            del lines[rng.randrange(len(lines))]
        elif op == 1 and lines:                             # duplicate a line
            i = rng.randrange(len(lines))
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
        elif op == 2 and len(lines) > 1:                    # swap lines
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3:                                       # splice a line of another text
            other = rng.choice(pool).split("\n")
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(other))
        else:                                               # character / token edits
            s = "\n".join(lines)
            i = rng.randrange(len(s) + 1)
            j = min(len(s), i + rng.randint(0, 8))
            k = rng.randrange(6)
            if k == 0:
                s = s[:i] + s[j:]
            elif k == 1:
                s = s[:i] + rng.choice(TOKENS) + s[i:]
            elif k == 2:
                s = s[:i] + rng.choice(TOKENS) + s[j:]
            elif k == 3:
                s = s[:i] + chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 0x3000)])) \
                    + s[j:]
            elif k == 4:                                    # replace a number
                import re
                nums = [m.span() for m in re.finditer(r"\d+", s)]
                if nums:
                    a, b = rng.choice(nums)
                    s = s[:a] + str(rng.choice([0, 1, 255, 256, 2**31, 2**32, 2**63, 2**64 - 1,
                                                2**64, 10**30, rng.randrange(2**64)])) + s[b:]
            else:
                s = s[:i] + s[i:j] * rng.randint(2, 4) + s[j:]
            lines = s.split("\n")
    return "\n".join(lines)


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(TOKENS) + rng.choice([" ", "", " ", ", ", "\n"])
                   for _ in range(rng.randint(0, 40)))


# ---------------------------------------------------------------------------------------------
# Target: asm


def fuzz_asm(stats: Stats, rng: random.Random) -> None:
    pool = corpus()
    # disassembled random programs enlarge the corpus
    pool += [p.disassemble() for p in _sample_programs(rng, 30)]
    stats.begin()
    while not stats.done():
        if rng.random() < 0.15:
            text = random_text(rng)
        else:
            text = mutate_text(rng, rng.choice(pool), pool)
        stats.record_input(text)
        try:
            prog = hg.assemble(text)
        except hg.HologramError:
            stats.count("rejected")
            continue
        except Exception as e:
            stats.count("bug")
            stats.finding("assemble raised a non-HologramError", text, e)
            continue
        try:
            again = hg.assemble(prog.disassemble())
            assert again == prog, "disassemble/assemble round trip changed the program"
            j = prog.to_json()        # ±inf epsilons are written as null (ISA.md §9): compare
            assert hg.Program.from_json(j).to_json() == j, "JSON round trip changed it"
            stats.count("accepted")
            if len(pool) < 2000 and rng.random() < 0.05:
                pool.append(text)
        except Exception as e:
            stats.count("bug")
            stats.finding("round trip of an assembled program failed", text, e)


# ---------------------------------------------------------------------------------------------
# Target: json


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    k = rng.randrange(10 if depth < 3 else 7)
    if k == 0:
        return None
    if k == 1:
        return rng.choice([True, False])
    if k == 2:
        return rng.choice([0, 1, -1, 255, 256, 2**31, 2**32, 2**63, 2**64 - 1, 2**64, -2**63,
                           10**40, rng.randrange(-2**70, 2**70)])
    if k == 3:
        return rng.choice([0.0, -0.0, 1.5, 1e308, 5e-324, 3.0])
    if k in (4, 5):
        return rng.choice(["", "u32", "f32", "ADD", "Add", "LDG", "BufferOffset", "L", "r1",
                           "%gid", "Shared", "GlobalId", "add", "\x00", "é" * 3,
                           "x" * rng.randint(0, 50)])
    if k == 6:
        return rng.choice([[], {}, [1, 2, 3], {"ty": "u32"}])
    if k in (7, 8):
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["ty", "dst", "src", "a", "b", "addr", "handle", "offset", "value",
                        "target", "type", "BufferOffset", "variant", "x"]): _random_json(rng,
                                                                                 depth + 1)
            for _ in range(rng.randint(0, 4))}


def _mutate_json_value(rng: random.Random, v: Any) -> Any:
    """Replace one random node of a JSON value."""
    if isinstance(v, dict) and v and rng.random() < 0.8:
        key = rng.choice(list(v))
        out = dict(v)
        r = rng.random()
        if r < 0.1:
            del out[key]
        elif r < 0.2:
            out[rng.choice(["extra", key + "x", "", "labels", "name"])] = _random_json(rng)
        else:
            out[key] = _mutate_json_value(rng, v[key])
        return out
    if isinstance(v, list) and v and rng.random() < 0.8:
        out = list(v)
        i = rng.randrange(len(v))
        r = rng.random()
        if r < 0.1:
            del out[i]
        elif r < 0.2:
            out.insert(i, out[i])
        else:
            out[i] = _mutate_json_value(rng, v[i])
        return out
    if isinstance(v, int) and not isinstance(v, bool) and rng.random() < 0.5:
        return v + rng.choice([-1, 1, 2**32, -2**32, 2**64, -2**64])
    return _random_json(rng)


def fuzz_json(stats: Stats, rng: random.Random) -> None:
    docs = [json.loads(hg.assemble(t).to_json()) for t in corpus()]
    docs += [json.loads(p.to_json()) for p in _sample_programs(rng, 40)]
    stats.begin()
    while not stats.done():
        r = rng.random()
        if r < 0.6:
            doc = rng.choice(docs)
            for _ in range(rng.randint(1, 4)):
                doc = _mutate_json_value(rng, doc)
            try:
                text = json.dumps(doc)
            except (ValueError, TypeError):
                continue
        elif r < 0.9:
            text = mutate_text(rng, json.dumps(rng.choice(docs), indent=rng.choice([None, 1])),
                               [json.dumps(d) for d in docs[:5]])
        elif r < 0.95:
            text = "[" * rng.randint(1, 100000) + "]" * rng.randint(0, 3)
        else:
            text = json.dumps(_random_json(rng))
        stats.record_input(text)
        try:
            prog = hg.Program.from_json(text)
        except hg.HologramError:
            stats.count("rejected")
            continue
        except Exception as e:
            stats.count("bug")
            stats.finding("from_json raised a non-HologramError", text, e)
            continue
        try:
            assert hg.Program.from_json(prog.to_json()) == prog
            try:          # JSON names (labels, kernel) need not be writable as text
                text2 = prog.disassemble()
            except hg.ProgramError as e:
                assert "cannot be written as text" in str(e), e
            else:
                assert hg.assemble(text2) == prog
            stats.count("accepted")
            if len(docs) < 2000 and rng.random() < 0.05:
                docs.append(json.loads(text))
        except Exception as e:
            stats.count("bug")
            stats.finding("round trip of a loaded program failed", text, e)


# ---------------------------------------------------------------------------------------------
# Hypothesis-driven targets (vm, diff): chunks of examples until the time is up


def _hypothesis_loop(stats: Stats, rng: random.Random, strategy, body: Callable[[Any], None],
                     chunk: int = 50) -> None:
    cfg = settings(max_examples=chunk, deadline=None, database=None, phases=[Phase.generate],
                   suppress_health_check=list(HealthCheck), derandomize=False)

    @cfg
    @given(strategy)
    def run(example):
        if stats.done():
            return
        body(example)

    while not stats.done():
        try:
            seed(rng.randrange(2**64))(run)()
        except Exception as e:      # body records its findings itself; anything else is ours
            stats.finding("fuzz harness error", "", e)
            return


def _sample_programs(rng: random.Random, n: int) -> List[hg.Program]:
    import isa_testlib
    out: List[hg.Program] = []

    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(isa_testlib.programs(max_instructions=16))
    def take(p):
        out.append(p)

    seed(rng.randrange(2**64))(take)()
    return out


# ---- target: vm

DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.uint64, np.int64,
          np.float16, np.float32, np.float64, np.bool_, np.complex64]


@st.composite
def vm_cases(draw):
    import isa_testlib
    prog = draw(isa_testlib.programs(max_instructions=20))
    invalid = None
    # hypothesis favours the bounds of integer ranges: pick modes with inner values
    sane = draw(st.integers(0, 9)) not in (3, 6, 8)      # mostly launches that reach the VM
    if draw(st.integers(0, 19)) == 7:
        # an invalid program the constructor did not check: the launch must refuse it
        ins = list(prog.instructions)
        labels = dict(prog.labels)
        how = draw(st.sampled_from(["label_range", "label_missing", "junk", "shared"]))
        if how == "label_range":
            labels[draw(st.text(min_size=1, max_size=3))] = draw(st.sampled_from(
                [-1, len(ins) + 1, 2**64, "0", None, True]))
        elif how == "label_missing":
            labels = {}
        elif how == "junk":
            ins.insert(draw(st.integers(0, len(ins))), "not an instruction")
        invalid = how
        prog = hg.Program(ins, labels, name=prog.name, block=prog.block,
                          shared_memory=(-1 if how == "shared" else prog.shared_memory),
                          validate=False)
        try:                       # some mutations keep the program valid
            hg.Program(ins, labels, name=prog.name, block=prog.block,
                       shared_memory=(-1 if how == "shared" else prog.shared_memory))
            invalid = None
        except hg.ProgramError:
            pass
    small = st.integers(0, 4)
    ext = st.one_of(small, st.integers(1, 64), st.sampled_from([0, -1, 2**31 - 1, 2**31, 2**40,
                                                                 1024, 1025]))
    if sane:
        grid = draw(st.one_of(st.tuples(st.integers(1, 8)),
                              st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 2)),
                              st.sampled_from([(2**31 - 1,), (70000,), (2**31 - 1, 2**31 - 1)])))
        block = draw(st.one_of(st.tuples(st.integers(1, 64)),
                               st.tuples(st.integers(1, 8), st.integers(1, 8), st.integers(1, 4)),
                               st.just((1024,))))
        shared = draw(st.one_of(st.integers(0, 4096), st.just(2**26)))
    else:
        grid = draw(st.one_of(st.none(), st.tuples(ext), st.tuples(small, small, small),
                              st.tuples(ext, ext, ext), st.just(()), st.just("x")))
        block = draw(st.one_of(st.none(), st.tuples(st.integers(1, 64)), st.tuples(ext, ext)))
        shared = draw(st.one_of(st.none(), st.integers(0, 4096), st.sampled_from(
            [-1, 2**26, 2**26 + 1, 2**64, 7])))
    params = []
    keys = st.integers(0, 255) if sane else st.one_of(st.integers(0, 255), st.sampled_from(
        [256, -1, "r3", "r255", "x1", "R7", "r", 1.0, None, True]))
    kinds = ["array", "array", "array", "bytes", "bytearray", "scalar", "npscalar", "window"]
    # buffer windows: base and virtual size (None: the window's end; < 0: smaller than that)
    bases = st.one_of(st.integers(0, 64), st.sampled_from([4096, 2**63, 2**64 - 8, 2**64 - 1]))
    extras = st.one_of(st.none(), st.integers(0, 64), st.sampled_from([-1, 2**64]))
    for reg in draw(st.lists(keys, max_size=6, unique=True)):
        kind = draw(st.sampled_from(kinds if sane else kinds + ["junk"]))
        if kind in ("array", "window"):
            spec = (draw(st.sampled_from(range(len(DTYPES)))), draw(st.one_of(
                st.integers(0, 64), st.integers(0, 5000))), draw(st.integers(0, 7)),
                draw(st.booleans()), draw(st.just(1) if sane else st.sampled_from([1, 2])))
            if kind == "window":
                spec += (draw(bases), draw(extras))
        elif kind in ("bytes", "bytearray"):
            spec = draw(st.integers(0, 300))
        elif kind == "scalar":
            spec = (draw(st.sampled_from(["u8", "i8", "u16", "i32", "u32", "u64", "i64", "f16",
                                          "bf16", "f32", "f64"] + ([] if sane else ["x32"]))),
                    draw(st.integers(0, 255) if sane else st.one_of(
                        st.integers(-2**64, 2**65), st.floats(), st.none(), st.booleans())))
        elif kind == "npscalar":
            spec = (draw(st.sampled_from(range(len(DTYPES) - (2 if sane else 1)))),
                    draw(st.integers(0, 2**64)))
        else:
            spec = draw(st.sampled_from([1, 2.5, "text", None, [1, 2], (1, 2, 3), ("u32",),
                                         True, object, "<object array>", "<py_object array>"]))
        params.append((reg, kind, spec))
    host_buffers = draw(st.lists(st.one_of(st.integers(0, 64), st.integers(0, 100000)),
                                 max_size=3))
    host_pools = draw(st.lists(st.integers(0, 4096), max_size=2))
    max_steps = draw(st.integers(0, 2000) if sane else st.one_of(
        st.integers(0, 2000), st.sampled_from([None, -1, 2**64])))
    timeout = draw(st.sampled_from([0.05, 0.1, 0.2]))
    bound = st.one_of(st.integers(0, 9), st.sampled_from([-1, 2**31, 2**63, 1.0, None]))
    block_range = draw(st.one_of(st.none(), st.none(), st.tuples(bound, bound),
                                 st.sampled_from([(0,), "0:1", range(0, 3, 2)])))
    data_seed = draw(st.integers(0, 2**32 - 1))
    numbers = st.one_of(st.integers(0, 64), st.sampled_from(
        [-1, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**64 - 96, 1.5, None, "3", True]))
    host_ops = draw(st.lists(st.tuples(st.sampled_from(HOST_OPS), numbers, numbers, numbers),
                             max_size=4))
    return dict(program=prog, invalid=invalid, grid=grid, block=block, shared=shared,
                params=params, host_buffers=host_buffers, host_pools=host_pools,
                max_steps=max_steps, timeout=timeout, seed=data_seed, host_ops=host_ops,
                block_range=block_range)


HOST_OPS = ["allocate_buffer", "free_buffer", "buffer_size", "copy_to_buffer",
            "copy_from_buffer", "allocate_pool", "free_pool", "copy_to_pool", "copy_from_pool",
            "buffer_view"]


def run_host_ops(be, ops) -> None:
    """Host operations with arbitrary arguments: HologramError, or the TypeError / ValueError
    of argument checks (ISA.md §7.8); anything else propagates (a finding)."""
    for op, a, b, c in ops:
        fn = getattr(be, op)
        try:
            if op in ("copy_to_buffer", "copy_to_pool"):
                n = c if isinstance(c, int) and 0 <= c <= 4096 else 3
                fn(a, bytes(n), offset=b)
            elif op in ("copy_from_buffer", "copy_from_pool"):
                n = c if isinstance(c, int) and 0 <= c <= 4096 else 3
                fn(a, bytearray(n), offset=b)
            else:
                fn(a if not (op.startswith("allocate") and isinstance(a, int) and
                             0 <= a <= 2**62 and a > 2**20) else 2**70)
        except (hg.HologramError, TypeError, ValueError):
            pass


GUARD = 64


def _make_params(case, rng: np.random.Generator):
    """(params dict, guard checks) for a case; arrays are windows into guarded arrays."""
    params: Dict[Any, Any] = {}
    guards = []
    for reg, kind, spec in case["params"]:
        if kind in ("array", "window"):
            di, n, shift, writable, step = spec[:5]
            dt = np.dtype(DTYPES[di])
            total = (n * step + 2 * GUARD) * dt.itemsize + shift
            raw = np.frombuffer(rng.integers(0, 256, total, dtype=np.uint8).tobytes(),
                                np.uint8).copy()
            lo = GUARD * dt.itemsize + shift
            body = raw[lo:lo + n * step * dt.itemsize]
            try:
                arr = body.view(dt)[::step] if step > 1 else body.view(dt)
            except ValueError:
                arr = body
            if not writable:
                arr.flags.writeable = False
            guards.append((raw, lo, lo + n * step * dt.itemsize, raw.copy()))
            value: Any = arr
            if kind == "window":
                base, extra = spec[5:]
                size = None if extra is None else base + arr.nbytes + extra
                try:
                    value = hg.BufferWindow(arr, base, size)
                except ValueError:          # base or size outside [0, 2^64): refused at once
                    pass
        elif kind == "bytes":
            value = bytes(rng.integers(0, 256, spec, dtype=np.uint8))
        elif kind == "bytearray":
            value = bytearray(rng.integers(0, 256, spec, dtype=np.uint8).tobytes())
        elif kind == "scalar":
            value = spec
        elif kind == "npscalar":
            dt = np.dtype(DTYPES[spec[0]])
            value = np.frombuffer(int(spec[1] % 2**64).to_bytes(8, "little")[:dt.itemsize],
                                  dt)[0] if dt.itemsize <= 8 else dt.type(0)
        elif spec == "<object array>":          # Python object pointers: must be refused
            value = np.array([None, 1, "x"], dtype=object)
        elif spec == "<py_object array>":
            value = (ctypes.py_object * 2)(1, "y")
        else:
            value = spec
        try:
            params[reg] = value
        except TypeError:
            pass
    return params, guards


def _describe_vm_case(case) -> str:
    c = dict(case)
    prog = c.pop("program")
    try:
        text = prog.to_json()
    except Exception:
        text = repr(list(prog.instructions)) + repr(dict(prog.labels))
    return json.dumps({k: repr(v) for k, v in c.items()}, indent=1) + "\nprogram:\n" + text


HOST_API_ERRORS = (hg.HologramError,)
# Documented non-Hologram errors of the host API (ISA.md §7.8): a Program of the wrong type,
# num_threads / nbytes validation (ValueError, TypeError). Launches of Program objects with
# any config, params, max_steps and timeout raise only HologramError.


def run_vm_case(case, stats: Optional[Stats], engines=(("vm", 1), ("vm", 2))) -> Dict[str, Any]:
    """Run one vm case on the given engines; returns {engine: outcome}; raises AssertionError
    for findings."""
    results = {}
    for engine, nt in engines:
        be = hg.CpuBackend(num_threads=nt) if engine == "vm" else hg.ReferenceBackend()
        for n in case["host_buffers"]:
            be.allocate_buffer(n)
        for n in case["host_pools"]:
            be.allocate_pool(n)
        if engine == "vm" and nt == 1:
            run_host_ops(be, case.get("host_ops", ()))
        rng = np.random.default_rng(case["seed"])
        params, guards = _make_params(case, rng)
        grid, block = case["grid"], case["block"]
        max_steps, timeout = case["max_steps"], case["timeout"]
        if engine == "reference":
            timeout = 0.5
        try:
            config = hg.LaunchConfig(grid, block, case["shared"])
            res = be.execute_program(case["program"], config, params, max_steps=max_steps,
                                     num_threads=nt, timeout=timeout,
                                     block_range=case.get("block_range"))
            outcome = "ok"
            _ = res.resonance
        except hg.Timeout:
            outcome = "Timeout"
        except hg.HologramError as e:
            outcome = type(e).__name__
        for raw, lo, hi, before in guards:
            if not (np.array_equal(raw[:lo], before[:lo]) and np.array_equal(raw[hi:],
                                                                              before[hi:])):
                raise AssertionError(f"{engine} nt={nt}: a write outside a parameter array")
        # the backend stays usable
        out = np.zeros(4, np.uint32)
        be.execute_program(_PROBE, hg.LaunchConfig(1, 4), {"r1": out})
        assert out.tolist() == [0, 3, 6, 9], f"{engine}: backend broken after the launch"
        results[f"{engine}{nt or ''}"] = outcome
    return results


_PROBE = hg.assemble("""
    mov.u64 r2, %gid
    mov_imm.u64 r3, 4
    mul.u64 r3, r2, r3
    cvt.u32.u64 r4, r2
    mov_imm.u32 r5, 3
    mul.u32 r4, r4, r5
    stg.u32 [r1 + r3], r4
""")


def _lanes(case) -> Optional[int]:
    try:
        grid, block, _ = hg.LaunchConfig(case["grid"], case["block"], case["shared"]).resolve(
            case["program"] if case["invalid"] is None else None)
    except Exception:
        return None
    return grid[0] * grid[1] * grid[2] * block[0] * block[1] * block[2]


def fuzz_vm(stats: Stats, rng: random.Random) -> None:
    def body(case):
        text = _describe_vm_case(case)
        stats.record_input(text)
        engines = [("vm", 1), ("vm", 2)]
        lanes = _lanes(case)
        if lanes is not None and lanes <= 64 and rng.random() < 0.2:
            engines.append(("reference", None))
        try:
            results = run_vm_case(case, stats, engines)
        except Exception as e:
            stats.count("bug")
            stats.finding("vm launch raised a non-HologramError or broke the sandbox", text, e)
            return
        outcome = results.get("vm1")
        if case["invalid"] is not None and case["invalid"] != "shared" \
                and outcome not in ("ProgramError", "LaunchConfigError"):
            # invalid programs must be rejected before running (the shared one may fail on
            # the config first)
            stats.count("bug")
            stats.finding("invalid program was not rejected", text,
                          AssertionError(f"outcomes {results}"))
            return
        stats.count(outcome or "?")

    _hypothesis_loop(stats, rng, vm_cases(), body, chunk=50)


# ---- target: diff

def fuzz_diff(stats: Stats, rng: random.Random) -> None:
    import test_differential as td
    families = [td.ARITH, td.CONTROL, td.MEMORY, td.SHARED, td.ATOMICS, td.FAULTING]
    strategy = st.sampled_from(families).flatmap(lambda f: td.cases(f))

    def body(case):
        text = td.describe(case)
        stats.record_input(text)
        try:
            ref = td.run_case(case, "reference")
            if case.kinds is None and ref.error is not None:
                raise AssertionError(f"reference faulted on a non-faulting family: {ref.error}")
            for nt in (1, 2):
                td.compare(case, ref, td.run_case(case, "vm", nt), f"vm num_threads={nt}")
        except Exception as e:
            stats.count("disagreement")
            stats.finding("VM and reference disagree", text, e)
            return
        stats.count("fault" if ref.error is not None else "ok")

    _hypothesis_loop(stats, rng, strategy, body, chunk=25)


RUNNERS = {"asm": fuzz_asm, "json": fuzz_json, "vm": fuzz_vm, "diff": fuzz_diff}


# ---------------------------------------------------------------------------------------------
# Driver: a supervisor restarts children that crash


def run_in_process(target: str, seconds: float, seed_: int, out: Path,
                   max_execs: Optional[int] = None) -> Dict[str, Any]:
    stats = Stats(target, out, time.monotonic() + seconds, max_execs)
    t0 = time.monotonic()
    RUNNERS[target](stats, random.Random(seed_))
    dt = time.monotonic() - t0
    return {"target": target, "seed": seed_, "execs": stats.execs, "seconds": round(dt, 2),
            "per_second": round(stats.execs / dt, 1) if dt else 0.0,
            "outcomes": stats.outcomes, "findings": stats.findings, "crashes": []}


def supervise(target: str, seconds: float, seed_: int, out: Path,
              max_execs: Optional[int] = None, env: Optional[Dict[str, str]] = None,
              hang_seconds: float = HANG_SECONDS) -> Dict[str, Any]:
    """Run the target in child processes until `seconds` are used; keep the inputs that
    crash a child or run longer than `hang_seconds` (the child is then killed)."""
    total = {"target": target, "seed": seed_, "execs": 0, "seconds": 0.0, "outcomes": {},
             "findings": [], "crashes": []}
    t_end = time.monotonic() + seconds
    s = seed_
    while True:
        left = t_end - time.monotonic()
        if left <= 0.5 or (max_execs is not None and total["execs"] >= max_execs):
            break
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--target", target,
               "--seconds", f"{left:.2f}", "--seed", str(s), "--out", str(out)]
        if max_execs is not None:
            cmd += ["--max-execs", str(max_execs - total["execs"])]
        cur = out / f"current-{target}.txt"
        progress = out / f"progress-{target}.json"
        for f in (cur, progress):
            if f.exists():
                f.unlink()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        hung = False
        t_start = time.time()
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                # the child writes every input before running it: a stale file is a hang
                last = cur.stat().st_mtime if cur.exists() else t_start
                if time.time() - max(last, t_start) > hang_seconds + (
                        0 if cur.exists() else 60):           # (setup: corpus building)
                    hung = True
                    proc.kill()
                    stdout, stderr = proc.communicate()
                    break
        summary = None
        for line in stdout.splitlines()[::-1]:
            if line.startswith("{"):
                summary = json.loads(line)
                break
        if summary is not None and proc.returncode == 0:
            _merge(total, summary)
            break
        # the child died or hung: keep the input it was running
        n = len(total["crashes"])
        what = "hang" if hung else "crash"
        dst = out / f"{what}-{target}-{s}-{n}.txt"
        text = cur.read_text(encoding="utf-8", errors="replace") if cur.exists() else ""
        dst.write_text(f"{what}: returncode {proc.returncode}\n\n{text}\n\n"
                       f"stderr:\n{stderr[-20000:]}", encoding="utf-8")
        total["crashes"].append({"kind": what, "returncode": proc.returncode, "file": dst.name,
                                 "stderr": stderr[-500:]})
        print(f"[fuzz {target}] {what.upper()} rc={proc.returncode} -> {dst}", file=sys.stderr,
              flush=True)
        if summary is None and progress.exists():
            try:
                summary = json.loads(progress.read_text())
            except ValueError:
                summary = None
        if summary is not None:
            _merge(total, summary)
        s += 1
    total["seconds"] = round(seconds - max(0.0, t_end - time.monotonic()), 2)
    total["per_second"] = round(total["execs"] / total["seconds"], 1) if total["seconds"] else 0
    return total


def _merge(total: Dict[str, Any], part: Dict[str, Any]) -> None:
    total["execs"] += part["execs"]
    for k, v in part["outcomes"].items():
        total["outcomes"][k] = total["outcomes"].get(k, 0) + v
    total["findings"] += part["findings"]


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", default="all", choices=TARGETS + ("all",))
    ap.add_argument("--seconds", type=float, default=30.0, help="per target")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--max-execs", type=int, default=None)
    ap.add_argument("--out", default=None, help="directory for inputs, findings and crashes")
    ap.add_argument("--no-fork", action="store_true", help="run in this process")
    ap.add_argument("--hang-seconds", type=float, default=HANG_SECONDS,
                    help="an input running longer is reported as a hang (child killed)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    out = Path(args.out or os.environ.get("HOLOGRAM_FUZZ_DIR") or "fuzz-out")
    out.mkdir(parents=True, exist_ok=True)
    s = args.seed if args.seed is not None else random.randrange(2**32)
    if args.child:
        print(json.dumps(run_in_process(args.target, args.seconds, s, out, args.max_execs)),
              flush=True)
        return 0
    targets = TARGETS if args.target == "all" else (args.target,)
    bad = False
    for t in targets:
        if args.no_fork:
            r = run_in_process(t, args.seconds, s, out, args.max_execs)
        else:
            r = supervise(t, args.seconds, s, out, args.max_execs,
                          hang_seconds=args.hang_seconds)
        print(json.dumps(r), flush=True)
        bad |= bool(r["findings"] or r["crashes"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
