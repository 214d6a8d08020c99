"""The reference interpreter's instruction counts (``ReferenceBackend.step_counts``): every
instruction a lane starts is one step (§7.7), a warp collective and a faulting instruction
included; expectations are counted by hand from the programs."""

import numpy as np
import pytest

import hologram as hg
from hologram.reference import StepCount

LOOP = """
.kernel counted
.block 4
.param r1 u64 n
        setgeu.u64  p0, r255, r1        ; 1
        bra.p0      @done               ; 2
        mov_imm.u32 r2, 2               ; 3
body:
        loop        r2, @body           ; taken twice, then falls through: 3 steps
done:
        exit                            ; lanes below n: 7 steps, the others 3
"""

WARP = """
.kernel warp
.block 32
        mov.u32       r3, %laneid       ; 1
        shfl.down.u32 r4, r3, 1         ; 2: a collective counts once
        bar.sync      0                 ; 3
        div.u32       r5, r4, r3        ; 4: lane 0 divides by 0 and faults here
        exit                            ; 5
"""


def test_loop_and_branch_steps_per_lane():
    be = hg.ReferenceBackend()
    prog = hg.assemble(LOOP)
    be.execute_program(prog, hg.LaunchConfig(grid=2, block=4), {"n": 6})
    c = be.step_counts["counted"]
    assert (c.launches, c.lanes, c.steps, c.max_lane) == (1, 8, 6 * 7 + 2 * 3, 7)
    assert c.per_lane == 6.0
    be.execute_program(prog, hg.LaunchConfig(grid=1, block=4), {"n": 0})
    assert (c.launches, c.lanes, c.steps, c.max_lane) == (2, 12, 48 + 4 * 3, 7)


def test_collective_barrier_and_fault_each_count_once():
    be = hg.ReferenceBackend()
    with pytest.raises(hg.DivisionByZero):
        be.execute_program(hg.assemble(WARP), hg.LaunchConfig(grid=1, block=32))
    assert be.step_counts["warp"] == StepCount(launches=1, lanes=32, steps=31 * 5 + 4,
                                               max_lane=5, instructions=5)


def test_counts_are_kept_per_kernel_and_can_be_cleared():
    be = hg.ReferenceBackend()
    unnamed = hg.assemble("exit\n")
    be.execute_program(unnamed, hg.LaunchConfig(grid=3, block=2))
    be.execute_program(hg.assemble(LOOP), hg.LaunchConfig(grid=1, block=4), {"n": 4})
    assert be.step_counts[""] == StepCount(1, 6, 6, 1, 1)
    assert be.step_counts["counted"] == StepCount(1, 4, 28, 7, 5)
    be.step_counts.clear()
    assert be.step_counts == {}
    assert StepCount().per_lane == 0.0


def test_ops_launches_are_counted_under_their_kernel_names():
    be = hg.ReferenceBackend()
    x = np.arange(10, dtype=np.float32)
    hg.ops.relu(x, backend=be)
    # one 256-lane block: 10 lanes run the 8 instructions up to the first exit, the other
    # 246 run setgeu, bra, exit
    c = be.step_counts["relu_f32"]
    assert (c.launches, c.lanes, c.steps) == (1, 256, 10 * 8 + 246 * 3)
