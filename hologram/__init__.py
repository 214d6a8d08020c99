"""hologram: run Atlas ISA kernels (a PTX-like instruction set) on CPU cores.

Quick start::

    import numpy as np, hologram as hg
    prog = hg.assemble(VECTOR_ADD_SOURCE)
    hg.launch(prog, grid=4, block=256, params={"r1": a, "r2": b, "r3": c, "r4": ("u64", n)})
"""

from ._config import show_config
from ._version import __version__
from .backend import (CpuBackend, LaunchConfig, LaunchResult, ReferenceBackend,
                      effective_num_threads, launch, openmp_enabled)
from .errors import (AllocationFailed, AssemblyError, AssemblyWarning, BackendBusy,
                     BarrierDivergence, CallStackOverflow, CallStackUnderflow, DivisionByZero,
                     ExecutionError, HologramError, Interrupted, InvalidCoordinate,
                     InvalidHandle, LaunchConfigError, Misaligned, NotCompilable, OutOfBounds,
                     ProgramError,
                     SharedOutOfBounds, StepLimitExceeded, Timeout, TypeMismatch,
                     UninitializedPredicate, UninitializedRegister, WarpDivergence)
from .isa import DType, Instruction, ParamDecl
from .program import Program
from .text import assemble
from .window import BufferWindow


def __getattr__(name: str):
    """``hg.ops`` and ``hg.kernels`` are imported on first use (the VM path never needs them)."""
    if name in ("ops", "kernels"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "assemble", "Program", "Instruction", "DType", "ParamDecl", "CpuBackend", "ReferenceBackend",
    "LaunchConfig", "LaunchResult", "launch", "openmp_enabled", "effective_num_threads",
    "HologramError", "ProgramError", "AssemblyError", "LaunchConfigError", "ExecutionError",
    "OutOfBounds", "SharedOutOfBounds", "InvalidHandle", "Misaligned", "TypeMismatch",
    "UninitializedRegister", "UninitializedPredicate", "DivisionByZero", "CallStackOverflow",
    "CallStackUnderflow", "BarrierDivergence", "WarpDivergence", "InvalidCoordinate",
    "AllocationFailed", "StepLimitExceeded", "Interrupted", "Timeout", "BackendBusy",
    "AssemblyWarning", "show_config", "BufferWindow", "NotCompilable",
    "__version__",
]
