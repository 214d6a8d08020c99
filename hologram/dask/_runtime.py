"""What tasks of hologram.dask need where they run: a backend per thread and a thread count.

Dask runs tasks in threads: worker threads of ``dask.distributed`` or the local threaded
scheduler's pool. Each such thread gets its own :class:`~hologram.CpuBackend` (one backend
serialises its launches), and each launch an explicit ``num_threads`` from a
:class:`ThreadPolicy`, because the nanny starts workers with ``OMP_NUM_THREADS=1`` and
hologram's default would then be one thread. The rule: worker threads of a machine times
hologram threads per task stay within its cores; :func:`policy` warns when they do not.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import warnings
from typing import Any, Dict, Optional, Tuple

from ..backend import CpuBackend, effective_num_threads
from ..program import Program

__all__ = ["ThreadPolicy", "OversubscriptionWarning", "policy", "local_backend",
           "program_from_json"]


class OversubscriptionWarning(RuntimeWarning):
    """Dask threads x hologram threads per task exceed a machine's cores."""


_local = threading.local()


def local_backend(engine: Optional[str] = None) -> CpuBackend:
    """This thread's backend for ``engine`` (``"vm"`` by default), made on first use."""
    name = engine or "vm"
    backends = getattr(_local, "backends", None)
    if backends is None:
        backends = _local.backends = {}
    be = backends.get(name)
    if be is None:
        be = backends[name] = CpuBackend(engine=name)
    return be


@functools.lru_cache(maxsize=64)
def program_from_json(text: str) -> Program:
    """A task's program, rebuilt once per process (programs travel as JSON: a lowered
    program holds the VM's compiled tables, which do not pickle)."""
    return Program.from_json(text)


def cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):       # not on Linux
        return os.cpu_count() or 1


def _worker() -> Any:
    """The dask.distributed worker running this task, or None."""
    try:
        from distributed import get_worker
        return get_worker()
    except (ImportError, ValueError):
        return None


def _host(address: str) -> str:
    from distributed.comm import get_address_host
    return get_address_host(address)


class ThreadPolicy:
    """How many threads each launch of a task may use, resolved where the task runs.

    ``num_threads`` given: that many. Otherwise, in a dask.distributed worker: the cores of
    its machine divided by the dask threads of all workers there (``by_host``, measured on the
    client when the graph was built; a worker that joined later divides its CPUs by its own
    threads); outside a worker: hologram's default in the thread that called compute (the
    synchronous scheduler), the CPUs divided by the pool's threads in dask's local thread pool.
    """

    __slots__ = ("num_threads", "by_host")

    def __init__(self, num_threads: Optional[int] = None,
                 by_host: Tuple[Tuple[str, int], ...] = ()):
        self.num_threads = num_threads
        self.by_host = by_host

    def __dask_tokenize__(self) -> Tuple[Any, ...]:
        return ("hologram.ThreadPolicy", self.num_threads, self.by_host)

    def __reduce__(self) -> Tuple[Any, ...]:
        return (ThreadPolicy, (self.num_threads, self.by_host))

    def resolve(self) -> Optional[int]:
        """The ``num_threads`` for a launch of the current task (None: hologram's default)."""
        if self.num_threads is not None:
            return self.num_threads
        w = _worker()
        if w is not None:
            n = dict(self.by_host).get(_host(w.address))
            if n is None:
                n = cpus() // max(1, _worker_nthreads(w))
            return max(1, n)
        if threading.current_thread() is threading.main_thread():
            return None
        import dask
        pool = dask.config.get("num_workers", None) or cpus()
        return max(1, cpus() // pool)


def _worker_nthreads(w: Any) -> int:
    state = getattr(w, "state", None)
    return int(getattr(state, "nthreads", None) or getattr(w, "nthreads", 1) or 1)


# ---- the cluster's layout, seen from the client

_LAYOUTS: Dict[Any, Tuple[float, Dict[str, Tuple[int, int]]]] = {}
_LAYOUT_SECONDS = 5.0          # how long a measured layout is reused
_lock = threading.Lock()


def _layout(client: Any) -> Dict[str, Tuple[int, int]]:
    """{host: (cores, dask threads of all its workers)} of a client's cluster (cached)."""
    key = (id(client), getattr(client, "id", None))
    now = time.monotonic()
    with _lock:
        hit = _LAYOUTS.get(key)
    if hit is not None and now - hit[0] < _LAYOUT_SECONDS:
        return hit[1]
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    cores = client.run(cpus) if workers else {}
    layout: Dict[str, Tuple[int, int]] = {}
    for addr, info in workers.items():
        host = info.get("host") or _host(addr)
        c, t = layout.get(host, (0, 0))
        layout[host] = (max(c, int(cores.get(addr, 0))), t + int(info.get("nthreads", 1)))
    with _lock:
        if len(_LAYOUTS) > 64:
            _LAYOUTS.clear()
        _LAYOUTS[key] = (now, layout)
    return layout


def _threads_by_host(layout: Dict[str, Tuple[int, int]]) -> Tuple[Tuple[str, int], ...]:
    return tuple(sorted((h, max(1, c // max(1, t))) for h, (c, t) in layout.items()))


def _client() -> Any:
    """The current dask.distributed client, or None (no cluster: dask's local schedulers)."""
    try:
        from distributed import default_client
        return default_client()
    except (ImportError, ValueError):
        return None


def policy(num_threads: Optional[int] = None) -> ThreadPolicy:
    """The thread policy of a graph built now (see :class:`ThreadPolicy`; its ``resolve()``,
    called in a task, gives that task's thread count: ``client.submit(p.resolve)``); warns with
    :class:`OversubscriptionWarning` when, on some machine of the current cluster, the workers'
    threads times the hologram threads of each task exceed its cores."""
    if num_threads is not None:
        effective_num_threads(num_threads)             # validate early: LaunchConfigError
    client = _client()
    if client is None or getattr(client, "asynchronous", False):
        return ThreadPolicy(num_threads)
    layout = _layout(client)
    by_host = _threads_by_host(layout)
    for host, (cores, threads) in sorted(layout.items()):
        per_task = num_threads if num_threads is not None else dict(by_host)[host]
        if cores and threads * per_task > cores:
            warnings.warn(
                f"hologram.dask: on {host}, {threads} dask worker thread(s) x {per_task} "
                f"hologram thread(s) per task exceed its {cores} cores; use fewer worker "
                f"threads or num_threads={max(1, cores // threads)}",
                OversubscriptionWarning, stacklevel=3)
    return ThreadPolicy(num_threads, by_host)
