"""The benchmark kernels: ISA source, inputs, launch and the numpy equivalent of each.

Every kernel is an ISA program assembled once; ``setup(n, rng)`` returns a :class:`Case` holding
pre-allocated inputs/outputs, a function that launches the kernel on a backend and one that runs
the numpy equivalent, and a check that the VM's output matches numpy (run once per size, outside
the timed loop).

The last four (scan, bitonic, stencil, nbody) are written as CUDA code is ported to the ISA
(warp shuffles, shared memory, bar.sync, 2-D blocks, shared-memory tiles); their host wrappers
(``scan_launches``, ``sort_launch``, ``stencil_launch``, ``nbody_launch``) are also what
tests/test_bench_kernels.py runs on both engines. The scan takes several launches per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

import hologram as hg
import peers

VECTOR_ADD = """
.kernel vector_add
.block 256
.param r1 f32[] a
.param r2 f32[] b
.param r3 f32[] c
.param r4 u64 n
        setgeu.u64  p0, r255, r4        ; r255 = global lane id i; past the end: nothing to do
        bra.p0      @done
        ldg.f32     r10, [r1 + r255*4]
        ldg.f32     r11, [r2 + r255*4]
        add.f32     r12, r10, r11
        stg.f32     [r3 + r255*4], r12
done:
        exit
"""

# The original's single-lane program: buffer handles baked in as immediates, r0 counts down.
VECTOR_ADD_LOOP = """
.kernel vector_add_loop
        mov_imm.u64 r1, {a}
        mov_imm.u64 r2, {b}
        mov_imm.u64 r3, {c}
        mov_imm.u32 r0, {count}
        mov_imm.u64 r4, 0
        mov_imm.u64 r5, 4
loop_body:
        ldg.f32     r10, [r1 + r4]
        ldg.f32     r11, [r2 + r4]
        add.f32     r12, r10, r11
        stg.f32     [r3 + r4], r12
        add.u64     r4, r4, r5
        loop        r0, @loop_body
"""

SAXPY = """
.kernel saxpy
.block 256
; y = a * x + y
.param r1 f32[] x
.param r2 f32[] y
.param r3 f32 a
.param r4 u64 n
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        ldg.f32     r10, [r1 + r255*4]
        ldg.f32     r11, [r2 + r255*4]
        fma.f32     r12, r3, r10, r11
        stg.f32     [r2 + r255*4], r12
done:
        exit
"""

RELU = """
.kernel relu
.block 256
.param r1 f32[] x
.param r2 f32[] y
.param r4 u64 n
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        mov_imm.f32 r5, 0.0
        ldg.f32     r10, [r1 + r255*4]
        setgt.f32   p1, r10, 0.0
        sel.f32     r11, p1, r10, r5
        stg.f32     [r2 + r255*4], r11
done:
        exit
"""

# Compute-bound: y = sigmoid(x) * tanh(x) + exp(-x*x) * 0.5 - x/3, ten ALU ops per element.
CHAIN = """
.kernel chain
.block 256
.param r1 f32[] x
.param r2 f32[] y
.param r4 u64 n
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        mov_imm.f32 r20, 0.5
        ldg.f32     r10, [r1 + r255*4]
        sigmoid.f32 r11, r10
        tanh.f32    r12, r10
        mul.f32     r13, r11, r12
        mul.f32     r14, r10, r10
        neg.f32     r14, r14
        exp.f32     r15, r14
        fma.f32     r16, r15, r20, r13
        div.f32     r17, r10, 3.0
        sub.f32     r18, r16, r17
        stg.f32     [r2 + r255*4], r18
done:
        exit
"""

# Divergent per-lane loop: escape-time iteration counts of z <- z^2 + c (mandelbrot-like).
MANDEL = """
.kernel mandel
.block 256
.param r1 f32[] cre
.param r2 f32[] cim
.param r3 u32[] counts
.param r4 u64 n
.param r5 u32 max_iter
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        ldg.f32     r10, [r1 + r255*4]
        ldg.f32     r11, [r2 + r255*4]
        mov_imm.f32 r12, 0.0            ; zr
        mov_imm.f32 r13, 0.0            ; zi
        mov_imm.u32 r21, 0              ; k
iter:
        setge.u32   p1, r21, r5
        bra.p1      @store
        mul.f32     r14, r12, r12       ; zr^2
        mul.f32     r15, r13, r13       ; zi^2
        add.f32     r16, r14, r15
        setgt.f32   p2, r16, 4.0
        bra.p2      @store
        mul.f32     r17, r12, r13
        add.f32     r17, r17, r17       ; 2 zr zi
        sub.f32     r18, r14, r15
        add.f32     r12, r18, r10
        add.f32     r13, r17, r11
        add.u32     r21, r21, 1
        bra         @iter
store:
        stg.u32     [r3 + r255*4], r21
done:
        exit
"""

BLOCK_SUM = """
.kernel block_sum
.block 256
.shared 32
.param r1 f32[] x
.param r2 f32[] out                     ; out[0] += the sum (zeroed by the caller)
.param r3 u64 n
; Each warp sums its 32 values with shuffles, warp 0 sums the 8 warp sums the same way, and
; lane 0 adds the block's sum to out[0].
        mov_imm.f32  r10, 0.0
        setgeu.u64   p0, r255, r3       ; past the end: contribute 0
        bra.p0       @reduce
        ldg.f32      r10, [r1 + r255*4]
reduce:
        shfl.down.f32 r11, r10, 16
        add.f32      r10, r10, r11
        shfl.down.f32 r11, r10, 8
        add.f32      r10, r10, r11
        shfl.down.f32 r11, r10, 4
        add.f32      r10, r10, r11
        shfl.down.f32 r11, r10, 2
        add.f32      r10, r10, r11
        shfl.down.f32 r11, r10, 1
        add.f32      r10, r10, r11      ; warp lane 0: the warp's sum
        mov.u32      r20, %laneid
        mov.u32      r21, %warpid
        cvt.u64.u32  r22, r21
        setne.u32    p1, r20, 0
        bra.p1       @wait
        sts.f32      [r22*4], r10       ; shared[warp] = the warp's sum
wait:
        bar.sync     0
        setne.u32    p2, r21, 0
        bra.p2       @done              ; warp 0 goes on
        cvt.u64.u32  r23, r20
        mov_imm.f32  r10, 0.0
        setgeu.u32   p3, r20, 8
        bra.p3       @fold
        lds.f32      r10, [r23*4]       ; lanes 0..7: the warp sums
fold:
        shfl.down.f32 r11, r10, 4
        add.f32      r10, r10, r11
        shfl.down.f32 r11, r10, 2
        add.f32      r10, r10, r11
        shfl.down.f32 r11, r10, 1
        add.f32      r10, r10, r11
        setne.u32    p4, r20, 0
        bra.p4       @done              ; lane 0 adds the block's sum
        atom.add.f32 r14, [r2 + 0], r10
done:
        exit
"""

GATHER = """
.kernel gather
.block 256
; out[i] = x[idx[i]]
.param r1 f32[] x
.param r2 u32[] idx
.param r3 f32[] out
.param r4 u64 n
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        ldg.u32     r10, [r2 + r255*4]
        cvt.u64.u32 r11, r10
        ldg.f32     r12, [r1 + r11*4]
        stg.f32     [r3 + r255*4], r12
done:
        exit
"""

HISTOGRAM = """
.kernel histogram
.block 256
; bins[x[i]] += 1
.param r1 u32[] x                       ; values < 256
.param r2 u32[] bins                    ; 256 bins, zeroed
.param r4 u64 n
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        ldg.u32     r10, [r1 + r255*4]
        cvt.u64.u32 r11, r10
        mov_imm.u32 r12, 1
        atom.add.u32 r13, [r2 + r11*4], r12
done:
        exit
"""


# ---------------------------------------------------------------------------------------------
# Four kernels of the kind real CUDA ports are made of (issue 14): a warp-shuffle scan, a
# bitonic sort inside a block, a 2-D 5-point stencil and all-pairs n-body with shared-memory
# tiles. Each has a host wrapper (the launches it takes), a numpy equivalent and a numba peer.

SCAN_SEGMENT = 1024          # elements scanned by one block of SCAN (256 lanes x 4)

SCAN = """
.kernel scan_block
.block 256
.shared 32
; Inclusive scan (cumsum) of u32 values inside 1024-element segments: block b scans elements
; 1024 b ... 1024 b + 1023 and lane t owns the 4 consecutive ones from i = 1024 b + 4 t. Each
; lane scans its 4 values in registers; each warp scans its lanes' totals with shfl.up (5
; steps: a lane adds the value d lanes below it if there is one, d = 1, 2, 4, 8, 16); lane 31
; of each warp puts the warp's total in shared[w]; warp 0 scans the 8 warp totals the same
; way; every lane then adds what comes before it (the earlier warps' total from shared memory,
; its warp's earlier lanes' from the ladder) to its 4 values. Lane 0 writes the segment's total
; to sums[b]. Elements at or past n count as 0 and are not stored. Sums wrap mod 2^32, as
; numpy's uint32 cumsum does. A full scan adds the scanned totals of the earlier segments
; (SCAN_ADD) afterwards.
.param r1 u32[] x
.param r2 u32[] y                       ; y[i] = x[1024 b] + ... + x[i], i in segment b
.param r3 u32[] sums                    ; sums[b] = the total of segment b
.param r4 u64 n
        mov.u32      r20, %lane.x
        mov.u32      r21, %block.x
        cvt.u64.u32  r30, r20            ; t
        cvt.u64.u32  r31, r21            ; b
        shl.u64      r32, r31, 10
        shl.u64      r33, r30, 2
        add.u64      r34, r32, r33       ; i: the lane's first element
        add.u64      r35, r34, 4
        setgtu.u64   p0, r35, r4         ; p0: some of the lane's 4 elements are past n
        mov_imm.u32  r24, 0
        bra.p0       @edge_load
        ldg.u32      r10, [r1 + r34*4]
        ldg.u32      r11, [r1 + r34*4 + 4]
        ldg.u32      r12, [r1 + r34*4 + 8]
        ldg.u32      r13, [r1 + r34*4 + 12]
        bra          @lane_scan
edge_load:
        mov.u32      r10, r24
        mov.u32      r11, r24
        mov.u32      r12, r24
        mov.u32      r13, r24
        setgeu.u64   p1, r34, r4
        bra.p1       @lane_scan
        ldg.u32      r10, [r1 + r34*4]
        add.u64      r36, r34, 1
        setgeu.u64   p1, r36, r4
        bra.p1       @lane_scan
        ldg.u32      r11, [r1 + r34*4 + 4]
        add.u64      r36, r34, 2
        setgeu.u64   p1, r36, r4
        bra.p1       @lane_scan
        ldg.u32      r12, [r1 + r34*4 + 8] ; (the fourth is past n)
lane_scan:
        add.u32      r11, r11, r10
        add.u32      r12, r12, r11
        add.u32      r13, r13, r12       ; r13: the lane's total
        mov.u32      r22, %laneid
        mov.u32      r23, %warpid
        setgeu.u32   p1, r22, 1          ; p1..p5: a lane 1, 2, 4, 8, 16 below exists
        setgeu.u32   p2, r22, 2
        setgeu.u32   p3, r22, 4
        setgeu.u32   p4, r22, 8
        setgeu.u32   p5, r22, 16
        mov.u32      r14, r13
        shfl.up.u32  r15, r14, 1
        sel.u32      r15, p1, r15, r24
        add.u32      r14, r14, r15
        shfl.up.u32  r15, r14, 2
        sel.u32      r15, p2, r15, r24
        add.u32      r14, r14, r15
        shfl.up.u32  r15, r14, 4
        sel.u32      r15, p3, r15, r24
        add.u32      r14, r14, r15
        shfl.up.u32  r15, r14, 8
        sel.u32      r15, p4, r15, r24
        add.u32      r14, r14, r15
        shfl.up.u32  r15, r14, 16
        sel.u32      r15, p5, r15, r24
        add.u32      r14, r14, r15       ; r14: the totals of the warp's lanes up to this one
        cvt.u64.u32  r37, r23            ; w
        setne.u32    p6, r22, 31
        bra.p6       @totals
        sts.u32      [r37*4], r14        ; shared[w] = warp w's total
totals:
        bar.sync     0
        setne.u32    p6, r23, 0
        bra.p6       @offsets            ; warp 0 scans the 8 warp totals
        mov.u32      r16, r24
        setgeu.u32   p7, r22, 8
        bra.p7       @warp_scan
        cvt.u64.u32  r38, r22
        lds.u32      r16, [r38*4]
warp_scan:
        shfl.up.u32  r17, r16, 1
        sel.u32      r17, p1, r17, r24
        add.u32      r16, r16, r17
        shfl.up.u32  r17, r16, 2
        sel.u32      r17, p2, r17, r24
        add.u32      r16, r16, r17
        shfl.up.u32  r17, r16, 4
        sel.u32      r17, p3, r17, r24
        add.u32      r16, r16, r17
        bra.p7       @offsets
        sts.u32      [r38*4], r16        ; shared[w] = the total of warps 0 ... w
offsets:
        bar.sync     0
        sub.u32      r18, r14, r13       ; the warp's lanes before this one
        bra.!p6      @apply              ; warp 0 has no earlier warps
        lds.u32      r19, [r37*4 - 4]    ; the earlier warps
        add.u32      r18, r18, r19
apply:
        add.u32      r10, r10, r18
        add.u32      r11, r11, r18
        add.u32      r12, r12, r18
        add.u32      r13, r13, r18
        bra.p0       @edge_store
        stg.u32      [r2 + r34*4], r10
        stg.u32      [r2 + r34*4 + 4], r11
        stg.u32      [r2 + r34*4 + 8], r12
        stg.u32      [r2 + r34*4 + 12], r13
        bra          @total
edge_store:
        setgeu.u64   p1, r34, r4
        bra.p1       @total
        stg.u32      [r2 + r34*4], r10
        add.u64      r36, r34, 1
        setgeu.u64   p1, r36, r4
        bra.p1       @total
        stg.u32      [r2 + r34*4 + 4], r11
        add.u64      r36, r34, 2
        setgeu.u64   p1, r36, r4
        bra.p1       @total
        stg.u32      [r2 + r34*4 + 8], r12
total:
        setne.u64    p1, r30, 0
        bra.p1       @done               ; lane 0 writes the segment's total
        lds.u32      r19, [buf0 + 28]    ; shared[7]: the total of warps 0 ... 7
        stg.u32      [r3 + r31*4], r19
done:
        exit
"""

SCAN_ADD = """
.kernel scan_add
.block 256
; The second pass of a full scan: y[i] += prefix[b - 1] for the elements i of segment b >= 1
; (1024 b ... 1024 b + 1023, lane t the 4 from 1024 b + 4 t), where prefix is the inclusive
; scan of the segments' totals.
.param r1 u32[] y
.param r2 u32[] prefix
.param r3 u64 n
        mov.u32      r21, %block.x
        seteq.u32    p0, r21, 0
        bra.p0       @done               ; segment 0: nothing before it
        mov.u32      r20, %lane.x
        cvt.u64.u32  r30, r20
        cvt.u64.u32  r31, r21
        ldg.u32      r18, [r2 + r31*4 - 4] ; the total of segments 0 ... b - 1
        shl.u64      r32, r31, 10
        shl.u64      r33, r30, 2
        add.u64      r34, r32, r33       ; i: the lane's first element
        add.u64      r35, r34, 4
        setgtu.u64   p0, r35, r3
        bra.p0       @edge
        ldg.u32      r10, [r1 + r34*4]
        ldg.u32      r11, [r1 + r34*4 + 4]
        ldg.u32      r12, [r1 + r34*4 + 8]
        ldg.u32      r13, [r1 + r34*4 + 12]
        add.u32      r10, r10, r18
        add.u32      r11, r11, r18
        add.u32      r12, r12, r18
        add.u32      r13, r13, r18
        stg.u32      [r1 + r34*4], r10
        stg.u32      [r1 + r34*4 + 4], r11
        stg.u32      [r1 + r34*4 + 8], r12
        stg.u32      [r1 + r34*4 + 12], r13
        exit
edge:
        mov_imm.u32  r26, 2              ; at most 3 elements: i, i + 1, i + 2
one:
        setgeu.u64   p1, r34, r3
        bra.p1       @done
        ldg.u32      r10, [r1 + r34*4]
        add.u32      r10, r10, r18
        stg.u32      [r1 + r34*4], r10
        add.u64      r34, r34, 1
        loop         r26, @one
done:
        exit
"""

SORT_SEGMENT = 1024          # elements sorted by one block of BITONIC (512 lanes x 2)

BITONIC = """
.kernel bitonic_sort
.block 512
.shared 4096
; Sorts each 1024-element segment of x (f32) ascending into y: block b loads elements
; 1024 b ... 1024 b + 1023 into shared memory s (lane t: elements t and t + 512; past n: +inf,
; which sorts last and is not stored back) and runs the bitonic network of the CUDA samples'
; bitonicSortShared: for size = 2, 4, ..., 1024 and stride = size/2, ..., 1, lane t
; compare-exchanges s[pos] and s[pos + stride], pos = 2t - (t & (stride - 1)), ascending if
; t & (size/2) = 0 (for size 1024: every lane), with a bar.sync before each of the 55 steps.
; Values must not be NaN (min and max would not order them).
.param r1 f32[] x
.param r2 f32[] y
.param r3 u64 n
        mov.u32      r20, %lane.x
        mov.u32      r21, %block.x
        cvt.u64.u32  r30, r20            ; t
        cvt.u64.u32  r31, r21            ; b
        shl.u64      r32, r31, 10
        add.u64      r33, r32, r30       ; i = 1024 b + t
        add.u64      r34, r33, 512       ; and i + 512
        mov_imm.f32  r10, inf
        mov_imm.f32  r11, inf
        setgeu.u64   p0, r33, r3
        bra.p0       @stage
        ldg.f32      r10, [r1 + r33*4]
        setgeu.u64   p1, r34, r3
        bra.p1       @stage
        ldg.f32      r11, [r1 + r34*4]
stage:
        sts.f32      [r30*4], r10        ; s[t]
        sts.f32      [r30*4 + 2048], r11 ; s[t + 512]
        shl.u64      r35, r30, 1         ; 2t
        mov_imm.u64  r40, 2              ; size
merge:
        shr.u64      r41, r40, 1         ; size / 2
        and.u64      r42, r30, r41
        setne.u64    p2, r42, 0          ; p2: this lane's pairs sort descending
        mov.u64      r43, r41            ; stride
step:
        bar.sync     0
        sub.u64      r44, r43, 1
        and.u64      r44, r30, r44
        sub.u64      r45, r35, r44       ; pos = 2t - (t & (stride - 1))
        add.u64      r46, r45, r43       ; pos + stride
        lds.f32      r12, [r45*4]
        lds.f32      r13, [r46*4]
        min.f32      r14, r12, r13
        max.f32      r15, r12, r13
        sel.f32      r16, p2, r15, r14
        sel.f32      r17, p2, r14, r15
        sts.f32      [r45*4], r16
        sts.f32      [r46*4], r17
        shr.u64      r43, r43, 1
        setne.u64    p3, r43, 0
        bra.p3       @step
        shl.u64      r40, r40, 1
        setleu.u64   p3, r40, 1024
        bra.p3       @merge
        bar.sync     0
        bra.p0       @done
        lds.f32      r10, [r30*4]
        stg.f32      [r2 + r33*4], r10
        bra.p1       @done
        lds.f32      r11, [r30*4 + 2048]
        stg.f32      [r2 + r34*4], r11
done:
        exit
"""

STENCIL = """
.kernel stencil5
.block 32, 8
; One explicit step of the 2-D heat equation on an h x w f32 grid (row-major), interior points
; only: out[i, j] = u[i, j] + a * ((((u[i-1, j] + u[i+1, j]) + u[i, j-1]) + u[i, j+1])
; - 4 u[i, j]) for 0 < i < h - 1, 0 < j < w - 1; the border of out is not written. Lane
; (tx, ty) of block (bx, by) of a (ceil((w - 2) / 32), ceil((h - 2) / 8)) grid takes the point
; i = 1 + 8 by + ty, j = 1 + 32 bx + tx. The operations run in numpy's order, one rounding
; each (no fma), so the result is bit-identical to the numpy expression.
.param r1 f32[] u
.param r2 f32[] out
.param r3 u64 h
.param r4 u64 w
.param r5 f32 a
        mov.u32      r20, %lane.x
        mov.u32      r21, %lane.y
        mov.u32      r22, %block.x
        mov.u32      r23, %block.y
        cvt.u64.u32  r30, r20
        cvt.u64.u32  r31, r21
        cvt.u64.u32  r32, r22
        cvt.u64.u32  r33, r23
        shl.u64      r32, r32, 5
        add.u64      r34, r32, r30
        add.u64      r34, r34, 1         ; j
        shl.u64      r33, r33, 3
        add.u64      r35, r33, r31
        add.u64      r35, r35, 1         ; i
        sub.u64      r36, r4, 1
        setgeu.u64   p0, r34, r36
        sub.u64      r37, r3, 1
        setgeu.u64   p1, r35, r37
        or.pred      p0, p0, p1
        bra.p0       @done               ; outside the interior
        mad.u64      r38, r35, r4, r34   ; i w + j
        sub.u64      r39, r38, r4        ; the point above
        add.u64      r40, r38, r4        ; the point below
        ldg.f32      r10, [r1 + r38*4]
        ldg.f32      r11, [r1 + r39*4]
        ldg.f32      r12, [r1 + r40*4]
        ldg.f32      r13, [r1 + r38*4 - 4]
        ldg.f32      r14, [r1 + r38*4 + 4]
        add.f32      r15, r11, r12
        add.f32      r15, r15, r13
        add.f32      r15, r15, r14
        mul.f32      r16, r10, 4.0
        sub.f32      r15, r15, r16
        mul.f32      r15, r15, r5
        add.f32      r15, r10, r15
        stg.f32      [r2 + r38*4], r15
done:
        exit
"""

NBODY_TILE = 256             # bodies per block and per shared-memory tile

NBODY = """
.kernel nbody
.block 256
.shared 4096
; All-pairs gravitational accelerations with softening (GPU Gems 3, ch. 31): for body i,
; acc_i = sum over j of m_j d_ij / (|d_ij|^2 + eps2)^(3/2), d_ij = p_j - p_i (j = i included:
; d = 0 adds 0). Bodies are (x, y, z, m) records of 4 f32; lane t of block b computes body
; i = 256 b + t. The bodies are visited in tiles of 256: each lane stages body 256 k + t of
; tile k in shared memory (16 bytes), bar.sync, every lane accumulates the tile's bodies (the
; last tile: those below n), bar.sync. Lanes past n take part in the staging and store nothing.
.param r1 f32[] body                    ; n x 4: x, y, z, m
.param r2 f32[] acc                     ; n x 3: ax, ay, az
.param r3 u64 n
.param r4 f32 eps2
        mov.u32      r20, %lane.x
        mov.u32      r21, %block.x
        cvt.u64.u32  r30, r20            ; t
        cvt.u64.u32  r31, r21
        shl.u64      r32, r31, 8
        add.u64      r32, r32, r30       ; i = 256 b + t
        mov_imm.f32  r10, 0.0            ; p_i (0 past n)
        mov_imm.f32  r11, 0.0
        mov_imm.f32  r12, 0.0
        setltu.u64   p0, r32, r3         ; p0: body i exists
        bra.!p0      @start
        shl.u64      r33, r32, 2
        ldg.f32      r10, [r1 + r33*4]
        ldg.f32      r11, [r1 + r33*4 + 4]
        ldg.f32      r12, [r1 + r33*4 + 8]
start:
        mov_imm.f32  r13, 0.0            ; acc_i
        mov_imm.f32  r14, 0.0
        mov_imm.f32  r15, 0.0
        shl.u64      r34, r30, 4         ; this lane's slot in the tile: 16 t
        mov_imm.u64  r35, 0              ; j0: the tile's first body
tile:
        add.u64      r36, r35, r30       ; body j0 + t
        setgeu.u64   p1, r36, r3
        bra.p1       @staged
        shl.u64      r37, r36, 2
        ldg.f32      r16, [r1 + r37*4]
        ldg.f32      r17, [r1 + r37*4 + 4]
        ldg.f32      r18, [r1 + r37*4 + 8]
        ldg.f32      r19, [r1 + r37*4 + 12]
        sts.f32      [r34 + 0], r16
        sts.f32      [r34 + 4], r17
        sts.f32      [r34 + 8], r18
        sts.f32      [r34 + 12], r19
staged:
        bar.sync     0
        sub.u64      r38, r3, r35
        min.u64      r38, r38, 256       ; bodies in this tile
        cvt.u32.u64  r26, r38
        sub.u32      r26, r26, 1         ; the loop runs r26 + 1 times
        mov_imm.u64  r39, 0              ; shared offset of body j
pair:
        lds.f32      r16, [r39 + 0]
        lds.f32      r17, [r39 + 4]
        lds.f32      r18, [r39 + 8]
        lds.f32      r19, [r39 + 12]
        sub.f32      r40, r16, r10       ; d = p_j - p_i
        sub.f32      r41, r17, r11
        sub.f32      r42, r18, r12
        fma.f32      r43, r40, r40, r4   ; |d|^2 + eps2
        fma.f32      r43, r41, r41, r43
        fma.f32      r43, r42, r42, r43
        rsqrt.f32    r44, r43
        mul.f32      r45, r44, r44
        mul.f32      r45, r45, r44       ; 1 / r^3
        mul.f32      r45, r45, r19       ; m_j / r^3
        fma.f32      r13, r40, r45, r13
        fma.f32      r14, r41, r45, r14
        fma.f32      r15, r42, r45, r15
        add.u64      r39, r39, 16
        loop         r26, @pair
        bar.sync     0
        add.u64      r35, r35, 256
        setltu.u64   p2, r35, r3
        bra.p2       @tile
        bra.!p0      @done
        mul.u64      r46, r32, 3
        stg.f32      [r2 + r46*4], r13
        stg.f32      [r2 + r46*4 + 4], r14
        stg.f32      [r2 + r46*4 + 8], r15
done:
        exit
"""


@dataclass
class Case:
    """One kernel at one size: run it on a backend, run numpy, compare."""
    launch: Callable[[hg.CpuBackend, Optional[int]], None]
    numpy: Callable[[], None]
    check: Callable[[], None]
    reset: Callable[[], None] = lambda: None     # outputs that accumulate (sums, histograms)
    # the numba prange peer (bench/peers.py) on the same inputs, and its one-time check
    peer: Optional[Callable[[], None]] = None
    peer_check: Optional[Callable[[], None]] = None


@dataclass
class Kernel:
    name: str
    title: str
    source: str
    setup: Callable[[hg.Program, int, np.random.Generator, hg.CpuBackend], Case]
    max_n: int = 1 << 22
    instructions_per_lane: Optional[int] = None   # executed per lane (uniform kernels)
    min_n: int = 1                                # the size sweep's range for this kernel
    quick_max_n: Optional[int] = None             # a lower max_n for --quick
    # sizes of their own (default run, --quick) instead of the 2^k sweep, e.g. n-body's bodies
    sizes: Optional[Tuple[Tuple[int, ...], Tuple[int, ...]]] = None
    unit: str = "elements"                        # what n counts
    pairs: bool = False                           # the work is n^2 pairs (the rate column)

    def sizes_for(self, sweep: List[int], quick: bool) -> List[int]:
        """The sizes this kernel runs at: its own ``sizes``, else the sweep's sizes in
        [min_n, max_n] (max_n lowered to quick_max_n with --quick)."""
        if self.sizes is not None:
            return list(self.sizes[1] if quick else self.sizes[0])
        top = self.quick_max_n if quick and self.quick_max_n is not None else self.max_n
        return [n for n in sweep if self.min_n <= n <= top]


def _grid(n: int) -> int:
    return (n + 255) // 256


def launcher(prog: hg.Program, config: hg.LaunchConfig, params: Dict[str, object]):
    """launch(backend, threads): the kernel as a prepared launch (bound once per backend and
    thread count, as a steady-state caller would), then run."""
    cache: Dict[object, object] = {}

    def launch(be: hg.CpuBackend, threads: Optional[int]) -> None:
        key = (id(be), threads)
        k = cache.get(key)
        if k is None:
            k = cache[key] = be.prepare(prog, config, params, num_threads=threads)
        k()
    return launch


def _peer(name: str, args, result, expected, rtol: float = 0.0, before=None):
    """(peer, peer_check) for a numba peer writing ``result`` (an array, or None when the peer
    returns its result); ``expected()`` gives numpy's answer; ``before()`` runs before the check
    (resets outputs that the kernel updates in place; timed runs keep updating them, as the
    hologram launches do)."""
    if not peers.available():
        return None, None
    fn = peers.peer(name)

    def run():
        return fn(*args)

    def check():
        if before is not None:
            before()
        got = run()
        got = result if result is not None else got
        if rtol:
            np.testing.assert_allclose(got, expected(), rtol=rtol, atol=1e-6)
        else:
            np.testing.assert_array_equal(got, expected())
    return run, check


def _elementwise(out_name: str, numpy_fn, inputs: Dict[str, np.ndarray], out: np.ndarray,
                 prog: hg.Program, n: int, extra: Dict[str, object], be: hg.CpuBackend,
                 rtol: float = 0.0, peer_name: str = "", peer_args=()):
    params = dict(inputs)
    params[out_name] = out
    params.update(extra)
    expected = np.empty_like(out)

    launch = launcher(prog, hg.LaunchConfig(_grid(n), 256), params)

    def run_numpy():
        numpy_fn(expected)

    def check():
        out[...] = 0
        launch(be, None)
        numpy_fn(expected)
        if rtol:
            np.testing.assert_allclose(out, expected, rtol=rtol, atol=1e-6)
        else:
            np.testing.assert_array_equal(out, expected)

    peer_out = np.empty_like(out)

    def want():
        numpy_fn(expected)
        return expected
    peer, peer_check = _peer(peer_name, tuple(peer_args) + (peer_out,), peer_out, want, rtol) \
        if peer_name else (None, None)
    return Case(launch, run_numpy, check, peer=peer, peer_check=peer_check)


def setup_vector_add(prog, n, rng, be):
    a = rng.random(n, dtype=np.float32)
    b = rng.random(n, dtype=np.float32)
    c = np.zeros(n, np.float32)
    return _elementwise("r3", lambda out: np.add(a, b, out=out), {"r1": a, "r2": b}, c, prog, n,
                        {"r4": ("u64", n)}, be, peer_name="vector_add", peer_args=(a, b))


def setup_vector_add_loop(source, n, rng, be):
    a = rng.random(n, dtype=np.float32)
    b = rng.random(n, dtype=np.float32)
    ha, hb, hc = (be.allocate_buffer(4 * n) for _ in range(3))
    be.copy_to_buffer(ha, a)
    be.copy_to_buffer(hb, b)
    prog = hg.assemble(source.format(a=ha, b=hb, c=hc, count=n - 1))
    expected = np.empty(n, np.float32)
    c_view = be.buffer_view(hc).view(np.float32)

    launch = launcher(prog, hg.LaunchConfig(1, 1), {})

    def check():
        launch(be, None)
        np.add(a, b, out=expected)
        np.testing.assert_array_equal(c_view, expected)

    peer_out = np.empty(n, np.float32)
    peer, peer_check = _peer("vector_add_loop", (a, b, peer_out), peer_out,
                             lambda: np.add(a, b))
    return Case(launch, lambda: np.add(a, b, out=expected), check, peer=peer,
                peer_check=peer_check)


def setup_saxpy(prog, n, rng, be):
    x = rng.random(n, dtype=np.float32)
    y0 = rng.random(n, dtype=np.float32)
    y = y0.copy()
    alpha = np.float32(1.5)
    expected = np.empty_like(y)
    tmp = np.empty_like(y)
    params = {"r1": x, "r2": y, "r3": alpha, "r4": ("u64", n)}

    launch = launcher(prog, hg.LaunchConfig(_grid(n), 256), params)

    def run_numpy():
        np.multiply(alpha, x, out=tmp)
        np.add(tmp, y, out=expected)

    def check():
        y[...] = y0
        launch(be, 1)
        ref = (x.astype(np.float64) * alpha + y0).astype(np.float32)   # fma: one rounding
        np.testing.assert_allclose(y, ref, rtol=1e-6)

    y_peer = y0.copy()
    peer, peer_check = _peer("saxpy", (x, y_peer, alpha), y_peer,
                             lambda: (x.astype(np.float64) * alpha + y0).astype(np.float32),
                             rtol=1e-6, before=lambda: y_peer.__setitem__(Ellipsis, y0))
    return Case(launch, run_numpy, check, reset=lambda: y.__setitem__(Ellipsis, y0),
                peer=peer, peer_check=peer_check)


def setup_relu(prog, n, rng, be):
    x = rng.standard_normal(n).astype(np.float32)
    y = np.zeros(n, np.float32)
    return _elementwise("r2", lambda out: np.maximum(x, np.float32(0), out=out), {"r1": x}, y,
                        prog, n, {"r4": ("u64", n)}, be, peer_name="relu", peer_args=(x,))


def _chain_numpy(x):
    def run(out):
        s = 1 / (1 + np.exp(-x))
        t = np.tanh(x)
        out[...] = s * t + np.exp(-x * x) * np.float32(0.5) - x / np.float32(3)
    return run


def setup_chain(prog, n, rng, be):
    x = rng.standard_normal(n).astype(np.float32)
    y = np.zeros(n, np.float32)
    return _elementwise("r2", _chain_numpy(x), {"r1": x}, y, prog, n, {"r4": ("u64", n)}, be,
                        rtol=1e-5, peer_name="chain", peer_args=(x,))


MAX_ITER = 64


def setup_mandel(prog, n, rng, be):
    side = int(np.sqrt(n)) or 1
    re_ = np.linspace(-2.0, 0.5, side, dtype=np.float32)
    im_ = np.linspace(-1.2, 1.2, max(n // side, 1), dtype=np.float32)
    cre = np.resize(np.repeat(re_[None, :], len(im_), 0).reshape(-1), n).astype(np.float32)
    cim = np.resize(np.repeat(im_[:, None], side, 1).reshape(-1), n).astype(np.float32)
    counts = np.zeros(n, np.uint32)
    expected = np.zeros(n, np.uint32)

    def run_numpy(out=expected):
        zr = np.zeros(n, np.float32)
        zi = np.zeros(n, np.float32)
        out[...] = MAX_ITER
        alive = np.ones(n, bool)
        for k in range(MAX_ITER):
            zr2, zi2 = zr * zr, zi * zi
            esc = alive & (zr2 + zi2 > 4)
            out[esc] = k
            alive &= ~esc
            if not alive.any():
                break
            zi = np.where(alive, (zr * zi + zr * zi) + cim, zi).astype(np.float32)
            zr = np.where(alive, (zr2 - zi2) + cre, zr).astype(np.float32)

    params = {"r1": cre, "r2": cim, "r3": counts, "r4": ("u64", n), "r5": ("u32", MAX_ITER)}

    launch = launcher(prog, hg.LaunchConfig(_grid(n), 256), params)

    def check():
        launch(be, None)
        run_numpy()
        np.testing.assert_array_equal(counts, expected)

    peer_counts = np.zeros(n, np.uint32)

    def want():
        run_numpy()
        return expected
    peer, peer_check = _peer("mandel", (cre, cim, peer_counts, MAX_ITER), peer_counts, want)
    return Case(launch, run_numpy, check, peer=peer, peer_check=peer_check)


def setup_block_sum(prog, n, rng, be):
    x = rng.random(n, dtype=np.float32)
    out = np.zeros(1, np.float32)
    params = {"r1": x, "r2": out, "r3": ("u64", n)}

    launch = launcher(prog, hg.LaunchConfig(_grid(n), 256), params)

    def check():
        out[0] = 0
        launch(be, None)
        np.testing.assert_allclose(out[0], x.sum(dtype=np.float64), rtol=1e-4)

    peer, peer_check = _peer("block_sum", (x,), None, lambda: x.sum(dtype=np.float64), rtol=1e-4)
    return Case(launch, lambda: x.sum(), check, reset=lambda: out.__setitem__(0, 0),
                peer=peer, peer_check=peer_check)


def setup_gather(prog, n, rng, be):
    x = rng.random(n, dtype=np.float32)
    idx = rng.integers(0, n, n, dtype=np.uint32)
    out = np.zeros(n, np.float32)
    return _elementwise("r3", lambda o: np.take(x, idx, out=o), {"r1": x, "r2": idx}, out, prog,
                        n, {"r4": ("u64", n)}, be, peer_name="gather", peer_args=(x, idx))


def setup_histogram(prog, n, rng, be):
    x = rng.integers(0, 256, n, dtype=np.uint32)
    bins = np.zeros(256, np.uint32)
    params = {"r1": x, "r2": bins, "r4": ("u64", n)}

    launch = launcher(prog, hg.LaunchConfig(_grid(n), 256), params)

    def check():
        bins[...] = 0
        launch(be, None)
        np.testing.assert_array_equal(bins, np.bincount(x, minlength=256))

    peer_bins = np.zeros(256, np.uint32)
    peer, peer_check = _peer("histogram", (x, peer_bins), peer_bins,
                             lambda: np.bincount(x, minlength=256),
                             before=lambda: peer_bins.__setitem__(Ellipsis, 0))
    return Case(launch, lambda: np.bincount(x, minlength=256), check,
                reset=lambda: bins.__setitem__(Ellipsis, 0), peer=peer, peer_check=peer_check)


# ---- the four ported kernels: host side (launches, numpy equivalents, checks)

_PROGRAMS: Dict[str, hg.Program] = {}


def program(source: str) -> hg.Program:
    """``source`` assembled once per process (the multi-launch kernels need a second program)."""
    prog = _PROGRAMS.get(source)
    if prog is None:
        prog = _PROGRAMS[source] = hg.assemble(source)
    return prog


def _blocks(n: int, per: int) -> int:
    return -(-n // per)


def scan_launches(x: np.ndarray, out: np.ndarray) -> Callable[[hg.CpuBackend, Optional[int]], None]:
    """``launch(backend, threads)`` writing the inclusive scan of ``x`` (u32) to ``out`` (u32,
    same length): ``np.cumsum(x, dtype=np.uint32)``, every addition in the VM.

    Level 0 scans x in 1024-element segments (SCAN) and writes each segment's total to a
    buffer; while there is more than one segment, the totals are scanned the same way (level
    1, 2, ...: 2^22 elements take 3 levels). Then, from the top level down, SCAN_ADD adds to
    each segment the scanned total of the segments before it. 2^22 elements: 5 launches."""
    if x.dtype != np.uint32 or out.dtype != np.uint32 or x.shape != out.shape or x.ndim != 1:
        raise ValueError("scan_launches: x and out must be 1-D uint32 arrays of one length")
    scan, add = program(SCAN), program(SCAN_ADD)
    ins, outs, steps = [x], [out], []
    while True:
        n = len(ins[-1])
        g = _blocks(n, SCAN_SEGMENT)
        sums = np.zeros(max(g, 1), np.uint32)
        steps.append(launcher(scan, hg.LaunchConfig(g, 256),
                              {"x": ins[-1], "y": outs[-1], "sums": sums, "n": n}))
        if g <= 1:
            break
        ins.append(sums)
        outs.append(np.zeros(g, np.uint32))
    for k in range(len(outs) - 2, -1, -1):
        n = len(outs[k])
        steps.append(launcher(add, hg.LaunchConfig(_blocks(n, SCAN_SEGMENT), 256),
                              {"y": outs[k], "prefix": outs[k + 1], "n": n}))

    def launch(be: hg.CpuBackend, threads: Optional[int]) -> None:
        for step in steps:
            step(be, threads)
    return launch


def sort_launch(x: np.ndarray, y: np.ndarray) -> Callable[[hg.CpuBackend, Optional[int]], None]:
    """``launch(backend, threads)`` writing to ``y`` the 1024-element segments of ``x`` (f32,
    no NaN) each sorted ascending (BITONIC, one block per segment; the last may be partial)."""
    n = len(x)
    return launcher(program(BITONIC), hg.LaunchConfig(_blocks(n, SORT_SEGMENT), 512),
                    {"x": x, "y": y, "n": n})


def stencil_launch(u: np.ndarray, out: np.ndarray,
                   a: np.float32) -> Callable[[hg.CpuBackend, Optional[int]], None]:
    """``launch(backend, threads)`` writing one STENCIL step of the h x w f32 grid ``u`` into
    the interior of ``out`` (same shape; its border is left as it is)."""
    h, w = u.shape
    grid = (_blocks(max(w - 2, 0), 32), _blocks(max(h - 2, 0), 8))
    return launcher(program(STENCIL), hg.LaunchConfig(grid, (32, 8)),
                    {"u": u, "out": out, "h": h, "w": w, "a": np.float32(a)})


def nbody_launch(body: np.ndarray, acc: np.ndarray,
                 eps2: np.float32) -> Callable[[hg.CpuBackend, Optional[int]], None]:
    """``launch(backend, threads)`` writing to ``acc`` (n x 3 f32) the NBODY accelerations of
    ``body`` (n x 4 f32 records x, y, z, m) with softening ``eps2`` (= eps^2)."""
    n = len(body)
    return launcher(program(NBODY), hg.LaunchConfig(_blocks(n, NBODY_TILE), 256),
                    {"body": body, "acc": acc, "n": n, "eps2": np.float32(eps2)})


def sort_segments_numpy(x: np.ndarray, out: np.ndarray, segment: int = SORT_SEGMENT) -> None:
    """numpy's equivalent of BITONIC: ``np.sort`` of each ``segment``-element piece."""
    full = len(x) - len(x) % segment
    if full:
        out[:full].reshape(-1, segment)[...] = np.sort(x[:full].reshape(-1, segment), axis=1)
    if full < len(x):
        out[full:] = np.sort(x[full:])


def stencil_numpy(u: np.ndarray, a: np.float32, out: np.ndarray) -> None:
    """numpy's equivalent of STENCIL (array slicing), into the interior of ``out``."""
    c = u[1:-1, 1:-1]
    out[1:-1, 1:-1] = c + a * ((((u[:-2, 1:-1] + u[2:, 1:-1]) + u[1:-1, :-2]) + u[1:-1, 2:])
                               - 4 * c)


def nbody_numpy(body: np.ndarray, eps2: np.float32, out: np.ndarray) -> None:
    """numpy's equivalent of NBODY: the vectorised all-pairs formula, in float32 (n x n x 3
    temporaries)."""
    p, m = body[:, :3], body[:, 3]
    d = p[None, :, :] - p[:, None, :]                    # d[i, j] = p_j - p_i
    r2 = np.einsum("ijk,ijk->ij", d, d) + eps2
    w = m / (r2 * np.sqrt(r2))                           # m_j / r^3
    np.einsum("ijk,ij->ik", d, w, out=out)


#: NBODY's tolerance: every component within this fraction of the sum of the magnitudes of its
#: n terms (float32 sums of n terms in different orders, and rsqrt against 1/sqrt in numpy)
NBODY_RTOL = 2e-5


def nbody_reference(body: np.ndarray, eps2: float):
    """The all-pairs accelerations in float64 and, per component, the sum of the magnitudes of
    its terms (the scale the float32 results' error is measured against)."""
    p, m = body[:, :3].astype(np.float64), body[:, 3].astype(np.float64)
    acc, scale = np.empty_like(p), np.empty_like(p)
    for lo in range(0, len(p), 256):                     # 256 bodies at a time: bounded memory
        d = p[None, :, :] - p[lo:lo + 256, None, :]
        r2 = np.einsum("ijk,ijk->ij", d, d) + float(eps2)
        w = m / (r2 * np.sqrt(r2))
        acc[lo:lo + 256] = np.einsum("ijk,ij->ik", d, w)
        scale[lo:lo + 256] = np.einsum("ijk,ij->ik", np.abs(d), np.abs(w))
    return acc, scale


def check_nbody(acc: np.ndarray, reference) -> None:
    """Assert ``acc`` matches :func:`nbody_reference`'s result within :data:`NBODY_RTOL`."""
    ref, scale = reference
    err = np.abs(acc.astype(np.float64) - ref)
    bad = err > NBODY_RTOL * scale + 1e-30
    if bad.any():
        i = np.argwhere(bad)[0]
        at = tuple(i)
        raise AssertionError(f"n-body: acc{at} = {acc[at]!r}, float64 gives {ref[at]!r} "
                             f"(error {err[at]:.3g}, allowed {NBODY_RTOL * scale[at]:.3g}); "
                             f"{int(bad.sum())} components off")


def setup_scan(prog, n, rng, be):
    x = rng.integers(0, 1000, n, dtype=np.uint32)
    y = np.zeros(n, np.uint32)
    expected = np.empty(n, np.uint32)
    launch = scan_launches(x, y)

    def run_numpy():
        np.cumsum(x, dtype=np.uint32, out=expected)

    def check():
        y[...] = 0
        launch(be, None)
        run_numpy()
        np.testing.assert_array_equal(y, expected)

    peer_out = np.empty(n, np.uint32)
    peer, peer_check = _peer("scan", (x, peer_out), peer_out,
                             lambda: np.cumsum(x, dtype=np.uint32))
    return Case(launch, run_numpy, check, peer=peer, peer_check=peer_check)


def setup_bitonic(prog, n, rng, be):
    x = rng.standard_normal(n).astype(np.float32)
    y = np.zeros(n, np.float32)
    expected = np.empty(n, np.float32)
    launch = sort_launch(x, y)

    def run_numpy():
        sort_segments_numpy(x, expected)

    def check():
        y[...] = 0
        launch(be, None)
        run_numpy()
        np.testing.assert_array_equal(y, expected)

    def want():
        run_numpy()
        return expected
    peer_out = np.empty(n, np.float32)
    peer, peer_check = _peer("bitonic", (x, peer_out, SORT_SEGMENT), peer_out, want)
    return Case(launch, run_numpy, check, peer=peer, peer_check=peer_check)


def stencil_shape(n: int):
    """The grid of a stencil bench case of n points: h = 2^floor(log2(n) / 2) rows of n // h."""
    h = 1 << (max(n, 1).bit_length() - 1) // 2
    return h, max(n // h, 1)


STENCIL_A = np.float32(0.2)


def setup_stencil(prog, n, rng, be):
    h, w = stencil_shape(n)
    u = rng.standard_normal((h, w)).astype(np.float32)
    out = np.zeros((h, w), np.float32)
    expected = np.zeros((h, w), np.float32)
    launch = stencil_launch(u, out, STENCIL_A)

    def run_numpy():
        stencil_numpy(u, STENCIL_A, expected)

    def check():
        out[...] = 0
        launch(be, None)
        run_numpy()
        np.testing.assert_array_equal(out, expected)      # same operations, same order

    def want():
        run_numpy()
        return expected
    peer_out = np.zeros((h, w), np.float32)
    peer, peer_check = _peer("stencil", (u, peer_out, STENCIL_A), peer_out, want)
    return Case(launch, run_numpy, check, peer=peer, peer_check=peer_check)


NBODY_EPS2 = np.float32(0.01)


def nbody_bodies(n: int, rng: np.random.Generator) -> np.ndarray:
    """n bodies as (x, y, z, m) float32 records: normal positions, masses in [0.5, 1.5)."""
    return np.concatenate([rng.standard_normal((n, 3)), rng.uniform(0.5, 1.5, (n, 1))],
                          axis=1).astype(np.float32)


def setup_nbody(prog, n, rng, be):
    body = nbody_bodies(n, rng)
    acc = np.zeros((n, 3), np.float32)
    expected = np.empty((n, 3), np.float32)
    launch = nbody_launch(body, acc, NBODY_EPS2)
    reference = []

    def ref():
        if not reference:
            reference.append(nbody_reference(body, NBODY_EPS2))
        return reference[0]

    def run_numpy():
        nbody_numpy(body, NBODY_EPS2, expected)

    def check():
        acc[...] = 0
        launch(be, None)
        check_nbody(acc, ref())
        run_numpy()
        check_nbody(expected, ref())                      # numpy's float32 answer, too

    peer = peer_check = None
    if peers.available():
        fn = peers.peer("nbody")
        peer_acc = np.zeros((n, 3), np.float32)

        def peer():
            fn(body, peer_acc, NBODY_EPS2)

        def peer_check():
            peer_acc[...] = 0
            peer()
            check_nbody(peer_acc, ref())
    return Case(launch, run_numpy, check, peer=peer, peer_check=peer_check)


KERNELS: List[Kernel] = [
    Kernel("vector_add", "vector_add f32, one lane per element (headline)", VECTOR_ADD,
           setup_vector_add, instructions_per_lane=7),
    Kernel("vector_add_loop", "the original's single-lane LOOP program (12 instructions)",
           VECTOR_ADD_LOOP, setup_vector_add_loop, max_n=1 << 20),
    Kernel("saxpy", "saxpy with fma.f32", SAXPY, setup_saxpy, instructions_per_lane=7),
    Kernel("relu", "relu with setcc + sel", RELU, setup_relu, instructions_per_lane=8),
    Kernel("chain", "compute-bound chain (sigmoid, tanh, exp; 10 ALU ops/element)", CHAIN,
           setup_chain, instructions_per_lane=15),
    Kernel("mandel", "divergent per-lane loop (escape time, max 64 iterations)", MANDEL,
           setup_mandel),
    Kernel("block_sum", "block sum: warp shuffles, shared memory, bar.sync, atom.add",
           BLOCK_SUM, setup_block_sum),
    Kernel("gather", "gather through an index buffer", GATHER, setup_gather,
           instructions_per_lane=7),
    Kernel("histogram", "histogram with atom.add (256 u32 bins)", HISTOGRAM, setup_histogram,
           instructions_per_lane=7),
    Kernel("scan", "inclusive scan of u32 (np.cumsum): warp shuffles, 1024-element segments, "
           "a second pass adding the segments' offsets", SCAN, setup_scan),
    Kernel("bitonic", "bitonic sort of f32 in 1024-element segments (np.sort per segment): "
           "shared memory, 55 bar.sync steps", BITONIC, setup_bitonic, min_n=SORT_SEGMENT,
           max_n=1 << 20, quick_max_n=1 << 18),
    Kernel("stencil", "2-D 5-point stencil, f32, interior points (n = h x w grid points)",
           STENCIL, setup_stencil, unit="grid points"),
    Kernel("nbody", "all-pairs n-body, f32, shared-memory tiles of 256 bodies (n = bodies, "
           "n^2 interactions)", NBODY, setup_nbody, max_n=4096,
           sizes=((256, 512, 1024, 2048, 4096), (256, 1024)), unit="bodies", pairs=True),
]
