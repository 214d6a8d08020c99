"""Differential tests of ISA 1.1 (ISA.md §12): the generator of test_differential.py, extended
(:class:`Gen11`) with immediate operands, predicate logic, negated branches and selects, the new
math functions, %laneid / %warpid, scaled and displaced addresses (global and shared, the
§12.2.3 form included) and warp collectives (at the top level of main, where every live lane
of a warp reaches them together; divergence is tested in test_isa11_warp.py).

Every case is compared between the reference and the VM with 1 and 2 threads, as in
test_differential.py; it must finish without an unplanned fault (the faulting family: with
exactly the planted fault).
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from hologram.isa import (SPEC_BY_VARIANT, Cond, DType, Imm, RegisterIndirect,
                          RegisterIndirectComputed, ShflMode, SReg, VoteMode)
from isa_testlib import ISA11_VARIANTS
import test_differential as td
from test_differential import (FLOATS, INB, INTS, NBINS, R_BASE, R_IN, R_LL, R_SCRATCH, R_SLOT,
                               R_ZERO, SCR, T0, T1, T2, T3, Features, Gen, NoRegister)

ALL_TYPES = list(DType)
IMM_OPS = ("ADD", "SUB", "MUL", "DIV", "REM", "MIN", "MAX", "AND", "OR", "XOR", "POW", "SETcc",
           "SHL", "SHR")


class Gen11(Gen):
    """:class:`test_differential.Gen` with the ISA 1.1 items below mixed in."""

    negate_next = False

    def gen_item(self) -> None:
        r = self.r
        if not self.coin(30):
            return super().gen_item()
        opts = ["imm", "imm", "pred", "math", "negsel"]
        if self.feat.memory:
            opts += ["load11", "scratch11"]
        top = r.is_main and r.loop_depth == 0 and r.if_depth == 0
        if top:
            opts += ["warp", "warp"]
        if self.feat.shared and top:
            opts += ["shared11"]
        try:
            getattr(self, "item_" + self.ch(opts))()
        except NoRegister:
            pass
        self.pinned.clear()

    # ---- negated conditional branches of if / if-else / early exit (§12.3)

    def branch_pred(self) -> int:
        p = super().branch_pred()
        self.negate_next = self.coin(40)
        return p

    def emit(self, variant: str, **fields) -> int:
        if variant == "BRA" and self.negate_next and fields.get("pred") is not None:
            fields["negate"] = True
        self.negate_next = False
        return super().emit(variant, **fields)

    # ---- §12.1 immediates

    def item_imm(self) -> None:
        v = self.ch(IMM_OPS)
        spec = SPEC_BY_VARIANT[v]
        ty = self.ch(sorted(spec.types))
        a = self.src(ty)
        if v in ("SHL", "SHR"):
            d = self.dst(ty, allow_pinned=True)
            self.emit(v, ty=ty, dst=d, src=a, amount=Imm(self.num(0, 2 * ty.bits)))
            self.put(d, ty, True)
            return
        value = self.imm(ty)
        if v in ("DIV", "REM") and ty.is_int:
            value |= 1                                  # never a zero divisor
        if v == "SETcc":
            conds = list(Cond) if ty.is_int else [c for c in Cond if c < Cond.LTU]
            p = self.ch(self.r.preds)
            self.emit(v, ty=ty, cond=self.ch(conds), dst=p, src1=a, src2=Imm(value))
            self.r.pvals.add(p)
            return
        d = self.dst(ty, not ty.is_float, allow_pinned=True)
        self.emit(v, ty=ty, dst=d, src1=a, src2=Imm(value))
        self.put(d, ty, not ty.is_float)

    # ---- §12.3 predicate logic, negated select

    def item_pred(self) -> None:
        a, b = self.pred(), self.pred()
        d = self.ch(self.r.preds)
        v = self.ch(["PAND", "POR", "PXOR", "PNOT"])
        if v == "PNOT":
            self.emit(v, dst=d, src=a)
        else:
            self.emit(v, dst=d, src1=a, src2=b)
        self.r.pvals.add(d)

    def item_negsel(self) -> None:
        ty = self.ch(ALL_TYPES)
        p = self.pred()
        a, b = self.src(ty), self.src(ty)
        ex = self.exact(a) and self.exact(b)
        d = self.dst(ty, ex, allow_pinned=True)
        self.emit("SEL", ty=ty, dst=d, pred=p, src_true=a, src_false=b, negate=True)
        self.put(d, ty, ex)

    # ---- §12.5 math

    def item_math(self) -> None:
        v = self.ch(["ERF", "EXP2", "FLOOR", "CEIL", "TRUNC", "ROUND"])
        ty = self.ch(FLOATS)
        a = self.src(ty)
        d = self.dst(ty, False, allow_pinned=True)
        self.emit(v, ty=ty, dst=d, src=a)
        self.put(d, ty, False)                        # NaN results: any quiet NaN (§2)

    # ---- §12.2 addresses

    def item_load11(self) -> None:
        """A load from the input buffer at [R_IN + x*S ± D] with x lane-dependent and the
        offset in range."""
        ty = self.ch(ALL_TYPES)
        n = ty.size
        s = self.ch([1, 2, 4, 8])
        x = self.src(DType.U64)
        if self.coin(50):                             # + D
            disp = self.num(0, INB - n)
            m = (INB - n - disp) // s + 1
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=m)
            self.emit("REM", ty=DType.U64, dst=T1, src1=x, src2=T0)
        else:                                         # - D, with x >= ceil(D / S)
            disp = -self.num(1, 40)
            k = -(disp // s)                          # ceil(|D| / S)
            m = (INB - n - disp) // s - k + 1
            self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=m)
            self.emit("REM", ty=DType.U64, dst=T1, src1=x, src2=T0)
            self.emit("ADD", ty=DType.U64, dst=T1, src1=T1, src2=Imm(k))
        d = self.dst(ty, True)
        self.emit("LDG", ty=ty, dst=d, addr=RegisterIndirectComputed(R_IN, T1, s, disp))
        self.put(d, ty, True)

    def item_scratch11(self) -> None:
        """Store to / load from the lane's own scratch bytes through [R_SCRATCH + R_BASE + k]."""
        ty = self.ch(ALL_TYPES)
        addr = RegisterIndirectComputed(R_SCRATCH, R_BASE, 1, self.num(0, SCR - ty.size))
        if self.coin(50):
            self.emit("STG", ty=ty, src=self.canon(self.src(ty)), addr=addr)
        else:
            d = self.dst(ty, True)
            self.emit("LDG", ty=ty, dst=d, addr=addr)
            self.put(d, ty, True)

    def item_shared11(self) -> None:
        """Write the lane's 8-byte slot through [R_LL*8] (no handle part), barrier, read a
        neighbour's through [rX + T1*8 + j] and one fixed slot through [rB + off] (rB read,
        §12.2.3), barrier."""
        ty = self.ch(ALL_TYPES)
        val = self.canon(self.src(ty))
        self.emit("STS", ty=ty, src=val, addr=RegisterIndirectComputed(R_LL, R_LL, 8, 0))
        bar = self.num(0, 3)
        self.emit("BarSync", id=bar)
        lty = self.ch(ALL_TYPES)
        self.emit("MOV_IMM", ty=DType.U64, dst=T0, value=self.num(0, self.nl - 1))
        self.emit("ADD", ty=DType.U64, dst=T1, src1=R_LL, src2=T0)
        self.emit("REM", ty=DType.U64, dst=T1, src1=T1, src2=Imm(self.nl))
        d = self.dst(lty, True)
        self.emit("LDS", ty=lty, dst=d, addr=RegisterIndirectComputed(
            self.num(0, 255), T1, 8, self.num(0, 8 - lty.size)))
        self.put(d, lty, True)
        slot = self.num(0, self.nl - 1)
        self.emit("MOV_IMM", ty=DType.U64, dst=T2, value=8 * slot)
        d = self.dst(lty, True)
        self.emit("LDS", ty=lty, dst=d, addr=RegisterIndirect(T2, self.num(0, 8 - lty.size)))
        self.put(d, lty, True)
        self.emit("BarSync", id=bar)

    # ---- §12.4 warp collectives (top level of main only)

    def item_warp(self) -> None:
        v = self.ch(["SHFL", "SHFL", "VOTE", "BALLOT", "SREG"])
        if v == "SREG":
            s = self.ch([SReg.LaneId, SReg.WarpId])
            d = self.dst(DType.U32)
            self.emit("MOV_SREG", dst=d, sreg=s)
            self.put(d, DType.U32, True)
        elif v == "SHFL":
            ty = self.ch(ALL_TYPES)
            a = self.src(ty)
            if self.coin(50):
                lane = Imm(self.ch([0, 1, 2, 3, 5, 8, 16, 31, 32, 33, self.num(0, 2**32 - 1)]))
            else:                                     # a lane-dependent source lane
                self.emit("MOV_SREG", dst=T0, sreg=SReg.LaneId)
                self.emit(self.ch(["ADD", "XOR", "MUL"]), ty=DType.U32, dst=T0, src1=T0,
                          src2=Imm(self.num(0, 40)))
                lane = T0
            ex = self.exact(a)
            d = self.dst(ty, ex, allow_pinned=True)
            self.emit("SHFL", mode=self.ch(list(ShflMode)), ty=ty, dst=d, src=a, lane=lane)
            self.put(d, ty, ex)
        elif v == "VOTE":
            p = self.pred()
            d = self.ch(self.r.preds)
            self.emit("VOTE", mode=self.ch(list(VoteMode)), dst=d, src=p)
            self.r.pvals.add(d)
        else:
            p = self.pred()
            d = self.dst(DType.U32, allow_pinned=True)
            self.emit("BALLOT", dst=d, src=p)
            self.put(d, DType.U32, True)


def isa11(f: Features) -> Features:
    return Features(**{**f.__dict__, "isa11": True})


ARITH = isa11(td.ARITH)
CONTROL = isa11(td.CONTROL)
MEMORY = isa11(td.MEMORY)
SHARED = isa11(td.SHARED)
ATOMICS = isa11(td.ATOMICS)
FAULTING = isa11(td.FAULTING)


def cases(feat: Features, max_lanes: int = 96):
    return td.cases(feat, max_lanes=max_lanes, gen_cls=Gen11)


def check(case, faulting: bool = False) -> None:
    """The reference and the VM with 1 and 2 threads agree (and the planted fault is the
    one reported)."""
    ref = td.check_case(case, expect_error=faulting)
    if faulting:
        lanes = [g for g, k in enumerate(case.kinds) if k]
        if not lanes:
            assert ref.error is None, td.describe(case)
            return
        site = case.sites[case.kinds[lanes[0]]]
        e = ref.error
        assert type(e) is site.cls, (e, site, td.describe(case))
        assert (e.global_lane_id, e.pc, e.message) == (lanes[0], site.pc_ref[1], site.message)


@given(cases(ARITH, max_lanes=48))
def test_isa11_arith(case):
    check(case)


@given(cases(CONTROL))
def test_isa11_control(case):
    check(case)


@given(cases(MEMORY))
def test_isa11_memory(case):
    check(case)


@given(cases(SHARED))
def test_isa11_shared(case):
    check(case)


@given(cases(ATOMICS))
def test_isa11_atomics(case):
    check(case)


@given(cases(FAULTING))
def test_isa11_faults(case):
    check(case, faulting=True)


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from([ARITH, CONTROL, MEMORY, SHARED, ATOMICS, FAULTING]).flatmap(
    lambda f: cases(Features(**{**f.__dict__, "items": (f.items[0], 2 * f.items[1]),
                                "max_depth": 3}), max_lanes=512)))
def test_isa11_differential_large(case):
    check(case, faulting=case.kinds is not None)


def test_generator_covers_isa11():
    """The generator emits every 1.1 instruction and operand form (so the differential tests
    above exercise them)."""
    seen: Counter = Counter()

    @seed(11)
    @settings(max_examples=400, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from([ARITH, MEMORY, SHARED, CONTROL]).flatmap(cases))
    def collect(case):
        for ins in case.program:
            seen[ins.variant] += 1
            for f, v in zip(ins.spec.fields, ins.values):
                if isinstance(v, Imm):
                    seen["imm"] += 1
                if f.name == "negate" and v:
                    seen["negate " + ins.variant] += 1
                if isinstance(v, RegisterIndirectComputed) and (v.scale != 1 or v.disp):
                    seen["scaled " + ins.variant] += 1
                if isinstance(v, RegisterIndirect) and ins.variant in ("LDS", "STS"):
                    seen["shared rB+D"] += 1
                if v in (SReg.LaneId, SReg.WarpId) and f.name == "sreg":
                    seen[v.name] += 1

    collect()
    wanted = set(ISA11_VARIANTS) | {"imm", "negate BRA", "negate SEL", "scaled LDG",
                                    "scaled STG", "scaled LDS", "scaled STS", "shared rB+D",
                                    "LaneId", "WarpId"}
    assert wanted <= set(seen), sorted(wanted - set(seen))
