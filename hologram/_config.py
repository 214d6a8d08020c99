"""Build and runtime configuration: :func:`show_config` (what a bug report should include)."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import resources
from typing import Any, Dict, List, Optional, TextIO

__all__ = ["build_info", "config", "show_config"]


def build_info() -> Dict[str, Any]:
    """What the build chose, as recorded by setup.py in ``_build_info.json`` beside the
    extension: ``openmp``, ``openmp_compile_args``, ``compiler``, ``extra_compile_args``, ... An empty
    dict when the file is missing (a build made by other means)."""
    try:
        text = resources.files("hologram").joinpath("_build_info.json").read_text()
        data = json.loads(text)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _openmp_runtimes() -> List[Dict[str, Any]]:
    """The OpenMP runtimes loaded in this process, as threadpoolctl sees them."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [d for d in threadpool_info() if d.get("user_api") == "openmp"]


def _native_tier() -> Dict[str, Any]:
    """The native tier (hologram.jit): versions, CPU, vector width, or why it is unavailable."""
    from . import jit
    from .backend import default_engine
    try:
        info = jit.info()
    except Exception as e:          # pragma: no cover - a broken llvmlite installation
        info = {"available": False, "reason": f"{type(e).__name__}: {e}"}
    try:
        info["default_engine"] = default_engine()
    except ValueError as e:
        info["default_engine"] = f"invalid HOLOGRAM_ENGINE ({e})"
    return info


def config() -> Dict[str, Any]:
    """Everything :func:`show_config` prints, as a dict."""
    import numpy as np

    from ._version import __version__
    from .backend import (DEFAULT_POOL_QUOTA, MAX_THREADS, effective_num_threads,
                          openmp_enabled)

    try:
        import threadpoolctl
        tpc: Optional[str] = threadpoolctl.__version__
    except ImportError:
        tpc = None
    return {
        "hologram": __version__,
        "location": os.path.dirname(os.path.abspath(__file__)),
        "openmp_enabled": openmp_enabled(),
        "build": build_info(),
        "default_num_threads": effective_num_threads(),
        "max_num_threads": MAX_THREADS,
        "default_pool_quota": DEFAULT_POOL_QUOTA,
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "cpu_count": os.cpu_count(),
        "openmp_runtimes": _openmp_runtimes(),
        "native_tier": _native_tier(),
        "numpy": np.__version__,
        "threadpoolctl": tpc,
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def show_config(file: Optional[TextIO] = None) -> None:
    """Print the version, how the VM was built (OpenMP or serial, compiler flags), the OpenMP
    runtime as threadpoolctl sees it, the default thread count, numpy and the platform.

    The default thread count is read now, so it reflects ``OMP_NUM_THREADS`` and an enclosing
    ``threadpoolctl.threadpool_limits(...)``.
    """
    out = file if file is not None else sys.stdout
    c = config()
    b = c["build"]

    def line(key: str, value: Any) -> None:
        print(f"  {key + ':':<18}{value}", file=out)

    print(f"hologram {c['hologram']}", file=out)
    line("location", c["location"])
    print("build:", file=out)
    if c["openmp_enabled"]:
        if "openmp_compile_args" in b:
            line("OpenMP", f"enabled (compile: {' '.join(b['openmp_compile_args']) or '-'}; "
                           f"link: {' '.join(b['openmp_link_args']) or '-'})")
        else:
            line("OpenMP", "enabled")
    else:
        line("OpenMP", "disabled: serial core (launches run on one thread)")
    if b:
        line("compiler", f"{b.get('compiler') or '?'} ({b.get('compiler_type', '?')})")
        line("compile args", " ".join(b.get("extra_compile_args", [])) or "-")
        line("link args", " ".join(b.get("extra_link_args", [])) or "-")
        if b.get("cflags_env"):
            line("CFLAGS", b["cflags_env"])
        line("Cython", f"{b.get('cython', '?')}"
             f"{' (debug directives: bounds checks on)' if b.get('cython_debug') else ''}")
    else:
        line("build info", "not recorded (no _build_info.json)")
    print("threads:", file=out)
    line("default", f"{c['default_num_threads']} (OMP_NUM_THREADS, threadpool_limits and the "
                    "CPU count; num_threads= overrides)")
    line("maximum", f"{c['max_num_threads']} (a larger num_threads is a LaunchConfigError)")
    line("OMP_NUM_THREADS", c["omp_num_threads_env"] if c["omp_num_threads_env"] else "unset")
    line("CPUs", c["cpu_count"])
    runtimes = c["openmp_runtimes"]
    if not runtimes:
        line("OpenMP runtime", "none loaded" if not c["openmp_enabled"] else
             "not found by threadpoolctl" if c["threadpoolctl"] else "threadpoolctl not installed")
    for rt in runtimes:
        line("OpenMP runtime", f"{rt.get('prefix', '?')} {rt.get('version') or ''}".rstrip() +
             f", {rt.get('num_threads')} threads, {rt.get('filepath', '?')}")
    if len(runtimes) > 1:
        line("warning", "several OpenMP runtimes are loaded in this process")
    print("native tier:", file=out)
    nt = c["native_tier"]
    line("default engine", f"{nt['default_engine']} (HOLOGRAM_ENGINE; engine= overrides)")
    if nt["available"]:
        line("llvmlite", f"{nt['llvmlite']} (LLVM {nt['llvm']})")
        line("CPU", f"{nt['cpu']} ({nt['triple']})")
        line("vector width", f"{nt['vector_width']} lanes per chunk")
        line("CPU features", nt["features"])
    else:
        line("unavailable", nt["reason"])
    print("memory:", file=out)
    line("pool quota", f"{c['default_pool_quota']} bytes per backend by default "
                       f"(CpuBackend(pool_quota=...))")
    print("dependencies:", file=out)
    line("numpy", c["numpy"])
    line("threadpoolctl", c["threadpoolctl"] or "not installed")
    print("platform:", file=out)
    line("python", c["python"])
    line("platform", c["platform"])
