"""Type stub of the compiled VM module (hologram/_core.pyx and the _vm_*.pxi files it includes)."""

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

OPCODES: Dict[str, int]             # generated from hologram.isa.SPECS, in its order
NUM_OPS: int
LAYOUT: Dict[str, int]
FAULT_CODES: Dict[str, int]

def set_atlas_tables(mirror: Sequence[int], degree: Sequence[int], nbrs: Sequence[int],
                     unity: Sequence[bool]) -> None: ...
def openmp_enabled() -> bool: ...
def max_threads() -> int: ...
def array_address(obj: Any) -> Tuple[int, int, bool]: ...  # (address, nbytes, writable)

POOL_MAX_GENERATION: int

class PoolTable:
    quota: int                 # bytes the pools may hold (each counts its size + 128)
    @property
    def used(self) -> int: ...  # bytes charged against the quota now
    def __init__(self, boundary: np.ndarray,   # uint8[::1], pool 0
                 quota: int = 2**64 - 1, max_generation: int = ...) -> None: ...
    def alloc(self, size: int) -> int: ...     # id; 0: no memory or slot; -1: over the quota
    def free(self, pid: int, defer: bool = False) -> bool: ...
    def release_deferred(self) -> None: ...
    def view(self, pid: int) -> Optional[np.ndarray]: ...
    def size(self, pid: int) -> int: ...       # -1 if not a live pool
    def write(self, pid: int, offset: int, data: Any) -> bool: ...   # const uint8[::1]
    def read(self, pid: int, offset: int, out: Any) -> bool: ...     # uint8[::1]
    def __len__(self) -> int: ...              # slots of the table

class Prepared:
    nslots: int
    def __init__(
        self,
        code: np.ndarray,          # const int64_t[:, ::1]  (n, NCOL)
        checks: np.ndarray,        # const int32_t[:, ::1]  (k, 4)
        nslots: int,
        sreg_slot: Any,            # 4 slots (r252..r255)
        uses_calls: bool,
        uses_phase: bool,
        needs_tags: bool,
        npreds: int,
        written: np.ndarray,       # const uint8_t[::1], per slot
    ) -> None: ...

class HostTable:
    def __init__(self, buffers: Dict[int, Any]) -> None: ...

class Engine:
    def __init__(self, pools: PoolTable, boundary: np.ndarray) -> None: ...
    def run(
        self,
        prog: Prepared,
        grid: Tuple[int, int, int],
        block: Tuple[int, int, int],
        shared_size: int,
        max_steps: Optional[int],
        host: HostTable,
        params: List[Tuple[int, int, int]],   # (handle, address, nbytes)
        init: List[Tuple[int, int, int]],     # (slot, tag, value)
        num_threads: int,
        resonance: Optional[np.ndarray] = None,  # double[::1] (96,), accumulated into
        timeout: float = 0,                      # seconds; 0: none
        block_range: Optional[Tuple[int, int]] = None,   # (start, stop) blocks; None: all
        windows: Optional[Dict[int, int]] = None,        # parameter handle -> window base
    ) -> Optional[Tuple[int, int, int, int, int, int, int, int]]: ...

# The native tier's launch loop (_vm_jit.pxi)
def jit_poll_address() -> int: ...
def jit_frame_fields() -> Dict[str, int]: ...
def run_jit(
    fn_address: int,
    nrows: int,
    npreds: int,
    Lp: int,
    grid: Tuple[int, int, int],
    block: Tuple[int, int, int],
    host: HostTable,
    params: List[Tuple[int, int, int]],     # (handle, address, nbytes)
    param_values: List[int],                # parameter register values, signature order
    num_threads: int,
    boundary: np.ndarray,
    timeout: float = 0,
    block_range: Optional[Tuple[int, int]] = None,
    windows: Optional[Dict[int, int]] = None,
    max_steps: Optional[int] = None,        # code compiled to count steps
) -> Optional[Tuple[int, int, int, int, int, int, int, int]]: ...
