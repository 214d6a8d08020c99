"""hologram on Dask: the op library and any ISA program over chunked dask arrays.

``import hologram.dask as hd`` (needs the extra ``hologram[dask]``: dask[array,distributed]).
Importing it never starts a cluster: graphs run on the current ``dask.distributed`` client, or
on dask's local schedulers. ::

    import dask.array as da, numpy as np
    import hologram as hg, hologram.dask as hd
    x = da.random.random(10_000_000, chunks=1_000_000).astype(np.float32)
    s = hd.sum(hd.gelu(x))                 # a 0-d dask array; every value from the VM
    s.compute()
    bins = hd.launch(histogram_program, block=256, params={
        "r1": hd.partitioned(x_u8),        # one lane per element; chunks bound as windows
        "r2": hd.reduced(np.zeros(256, np.uint32), op="add"),
        "r3": ("u64", x_u8.shape[0])})["r2"]

* **Op twins** (:mod:`hologram.dask.ops`): every :mod:`hologram.ops` function, on dask arrays.
* :func:`launch`: one program over chunked data with global lane ids, parameters declared
  :func:`partitioned`, :func:`replicated` or :func:`reduced`; programs that cannot be chunked
  raise :class:`NotPartitionable` before any task runs.
* Threads: each dask thread gets its own backend, and each launch an explicit thread count
  (:class:`ThreadPolicy`: the machine's cores shared by its dask threads; dask's nanny sets
  ``OMP_NUM_THREADS=1`` in workers, which hologram's default would follow);
  :class:`OversubscriptionWarning` when dask threads x hologram threads exceed the cores.

See docs/dask.md for what can and cannot be distributed and the cluster layouts.
"""

from __future__ import annotations

try:
    import dask.array  # noqa: F401
except ImportError as e:          # pragma: no cover - depends on the environment
    raise ImportError("hologram.dask needs dask: pip install 'hologram[dask]' "
                      f"(dask[array,distributed]) ({e})") from None

from .._partition import NotPartitionable
from ._runtime import OversubscriptionWarning, ThreadPolicy
from ._runtime import policy as thread_policy
from .launch import (REDUCE_OPS, Partitioned, Reduced, Replicated, launch, partitioned,
                     reduced, replicated)
from .ops import (abs, add, binary_cross_entropy, clip, copy, cross_entropy, div, fill, full,
                  gather, gelu, gemm, matvec, max, maximum, mean, min, minimum, mse, mul,
                  neg, relu, scalar_add, scalar_mul, sigmoid, softmax, sub, sum, tanh,
                  vector_add, vector_div, vector_mul, vector_sub)
from .ops import __all__ as _OPS

__all__ = ["launch", "partitioned", "replicated", "reduced", "Partitioned", "Replicated",
           "Reduced", "REDUCE_OPS", "NotPartitionable", "ThreadPolicy", "thread_policy",
           "OversubscriptionWarning", *_OPS]
