# cython: language_level=3
"""The hologram VM: runs lowered Atlas ISA programs over blocks of lanes.

Execution model (see hologram/vm.py for the lowering that feeds it):

* A launch is split into blocks. OpenMP threads claim chunks of consecutive blocks from an
  atomic counter; each thread owns the blocks it claimed and writes only their state, so the
  memory path takes no lock (plain accesses are direct loads/stores, atomics are CAS loops).
* Inside a block, lanes run SIMT-style: the lanes that share the lowest pc form a *group* and
  one instruction is executed for the whole group (structure-of-arrays registers), until the
  group diverges (a branch splits it), reaches the pc of other waiting lanes (they merge),
  waits at a barrier or a warp collective, or ends.
* Register reads are type-checked by a per-instruction list of checks computed at lowering
  (first failed read faults, in field order); then the instruction's operation runs with no
  further tag tests. Faults end only the faulting lane; each thread remembers its lowest
  faulting global lane and the launch reports the lowest of all.
* Nothing in the loop touches Python objects; only the master thread takes the GIL, every
  20 ms (SIGNAL_INTERVAL), to let Ctrl-C through (PyErr_CheckSignals), and it keeps polling
  after its own blocks are done until the other threads finish.

One extension module, written as focused files included below in this order (types before
the code that uses them; functions may call functions of later files):

  _vm_pools.pxi      the pool table that lanes grow and read without locks
  _vm_defs.pxi       instruction-row columns, launch and thread state (Ctx, Worker), faults
  _vm_values.pxi     value helpers: canonical integers, f16/bf16, the ISA's float rules, CVT
  _vm_ops.pxi        GENERATED from hologram.isa.SPECS by hologram/_vmgen.py: opcodes, ISA
                     constants, per-opcode flags, element-wise semantics and exec_op, the one
                     switch that runs an instruction
  _vm_memory.pxi     buffer lookup, access checks and the three load/store paths
  _vm_atomics.pxi    atomic read-modify-write and the pool instructions
  _vm_arith.pxi      element-wise loops, reductions, compare/select, moves
  _vm_atlas.pxi      the Atlas tables and instructions
  _vm_shapes.pxi     register shapes (rows affine in the lane) and rows written when read
  _vm_loop.pxi       the group loop and control flow: the interpreter proper
  _vm_warp.pxi       warp collectives: lanes wait for their warp, warps resolve
  _vm_blocks.pxi     blocks, the scheduler and the parallel region
  _vm_engine.pxi     Prepared, Engine, HostTable: what Python calls
  _vm_jit.pxi        the native tier's launch loop: compiled block functions (hologram.jit)
                     called from the same block claiming, polling and fault rules

Code between "# hot: begin" and "# hot: end" of every file may not touch Python objects
(tests/test_build.py checks Cython's annotation), except the Ctrl-C check marked "gil".
"""

from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from libc.stdlib cimport calloc, free, malloc
from cython.parallel cimport parallel, threadid

import numpy as np

from ._openmp cimport HOLOGRAM_HAVE_OPENMP, omp_get_max_threads, omp_get_num_threads

cdef extern from "_vmhelpers.h" nogil:
    float hg_f32(uint64_t b)
    uint64_t hg_f32_bits(float f)
    double hg_f64(uint64_t b)
    uint64_t hg_f64_bits(double d)
    uint32_t hg_round_f16(uint32_t x)
    uint32_t hg_round_bf16(uint32_t x)
    uint32_t hg_widen_f16(uint32_t h)
    uint32_t hg_cas32(void* p, uint32_t expected, uint32_t desired)
    uint64_t hg_cas64(void* p, uint64_t expected, uint64_t desired)
    uint32_t hg_load32(void* p)
    uint64_t hg_load64(void* p)
    int64_t hg_atomic_min_i64(int64_t* p, int64_t v)
    int hg_atomic_load_int(int* p)
    void hg_atomic_store_int(int* p, int v)
    int64_t hg_fetch_add_i64(int64_t* p, int64_t v)
    int hg_fetch_add_int(int* p, int v)
    int64_t hg_atomic_load_i64(int64_t* p)
    uint32_t hg_xadd32(void* p, uint32_t v)
    uint64_t hg_xadd64(void* p, uint64_t v)
    uint32_t hg_xchg32(void* p, uint32_t v)
    uint64_t hg_xchg64(void* p, uint64_t v)
    void hg_spin_pause()
    double hg_now()
    void hg_sleep_us(int us)

cdef extern from "Python.h":
    int PyErr_CheckSignals()
    void PyErr_Clear()

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_C_CONTIGUOUS

include "_vm_pools.pxi"
include "_vm_defs.pxi"
include "_vm_values.pxi"
include "_vm_ops.pxi"
include "_vm_memory.pxi"
include "_vm_atomics.pxi"
include "_vm_arith.pxi"
include "_vm_atlas.pxi"
include "_vm_shapes.pxi"
include "_vm_loop.pxi"
include "_vm_warp.pxi"
include "_vm_blocks.pxi"
include "_vm_engine.pxi"


def openmp_enabled():
    """True if this module was compiled with OpenMP."""
    return bool(HOLOGRAM_HAVE_OPENMP)


def max_threads():
    """omp_get_max_threads(), read now (honours OMP_NUM_THREADS and threadpoolctl)."""
    return omp_get_max_threads()
include "_vm_jit.pxi"
