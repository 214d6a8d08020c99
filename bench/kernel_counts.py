"""Instruction counts of the kernels behind ``hologram.ops`` (the templates in hologram/kernels).

For a representative call of each op (float32 unless noted, sizes below) this runs the op on
the reference interpreter and prints, for every kernel it launched (each kernel once, with the
first call that launched it), a Markdown table row:

* ``static``: instructions in the kernel's program;
* ``per lane``: instructions executed per lane (mean over every lane launched, idle lanes of
  the last block included; §7.7 steps: a warp collective, a bar.sync and an exit count one);
* ``max lane``: the most instructions one lane executed;
* ``lanes`` and ``launches`` of that kernel in the call.

The counts come from ``ReferenceBackend.step_counts`` and do not depend on the machine or its
load, so they compare kernel versions where timings on a shared machine cannot. Usage, from
the repository root::

    python bench/kernel_counts.py            # the table on stdout (about 20 s)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, List, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # this checkout's hologram
import hologram as hg  # noqa: E402
from hologram import ops  # noqa: E402

N = 4096          # elements of the element-wise and whole-array calls (16 blocks of 256 lanes)


def _cases() -> List[Tuple[str, Callable[[hg.ReferenceBackend], object]]]:
    """(description, call) pairs; every call runs its op on the given backend."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(N).astype(np.float32)
    y = rng.standard_normal(N).astype(np.float32)
    p = rng.uniform(0.01, 0.99, N).astype(np.float32)
    t = (rng.uniform(size=N) < 0.5).astype(np.float32)
    u = rng.integers(0, 1000, N, dtype=np.uint32)
    idx = rng.integers(-N, N, N, dtype=np.int64)
    rows = rng.standard_normal((8, 512)).astype(np.float32)
    a = rng.standard_normal((64, 256)).astype(np.float32)
    m = rng.standard_normal((64, 64)).astype(np.float32)
    return [
        (f"vector_add, n={N}", lambda be: ops.vector_add(x, y, backend=be)),
        (f"tanh, n={N}", lambda be: ops.tanh(x, backend=be)),
        (f"neg (uint32), n={N}", lambda be: ops.neg(u, backend=be)),
        (f"scalar_mul, n={N}", lambda be: ops.scalar_mul(x, 2.0, backend=be)),
        (f"clip, n={N}", lambda be: ops.clip(x, -1.0, 1.0, backend=be)),
        (f"relu, n={N}", lambda be: ops.relu(x, backend=be)),
        (f"gelu, n={N}", lambda be: ops.gelu(x, backend=be)),
        (f"fill, n={N}", lambda be: ops.fill(np.empty(N, np.float32), 1.5, backend=be)),
        (f"gather (int64 indices), n={N}", lambda be: ops.gather(x, idx, backend=be)),
        (f"sum, n={N}", lambda be: ops.sum(x, backend=be)),
        (f"mean, n={N}", lambda be: ops.mean(x, backend=be)),
        ("softmax, 8 x 512", lambda be: ops.softmax(rows, backend=be)),
        (f"mse, n={N}", lambda be: ops.mse(x, y, backend=be)),
        (f"binary_cross_entropy, n={N}",
         lambda be: ops.binary_cross_entropy(p, t, backend=be)),
        ("matvec, 64 x 256", lambda be: ops.matvec(a, a[0], backend=be)),
        ("gemm, 64 x 64 x 64", lambda be: ops.gemm(m, m, backend=be)),
    ]


def main() -> int:
    print("| call | kernel | static | per lane | max lane | lanes | launches |")
    print("|---|---|---:|---:|---:|---:|---:|")
    seen = set()
    for what, call in _cases():
        be = hg.ReferenceBackend()
        call(be)
        for name, c in be.step_counts.items():
            if name in seen:     # each kernel once, on the first call that launched it
                continue
            seen.add(name)
            print(f"| {what} | {name} | {c.instructions} | {c.per_lane:.2f} | {c.max_lane} "
                  f"| {c.lanes} | {c.launches} |")
            what = ""            # the call once, on its first kernel's row
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
