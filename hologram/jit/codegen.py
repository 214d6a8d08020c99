"""LLVM IR for one (program, parameter types, block shape) of the native tier.

The generated function ``i32 hg_block(ptr frame, i64 block)`` runs every lane of one block and
returns 1 if the launch was aborted (Ctrl-C, timeout), else 0. Its state lives in a
:c:type:`JitFrame` (hologram/_vm_jit.pxi), a struct of 8-byte fields whose indices are
:data:`FRAME`.

Execution model (docs/native-tier.md):

* Lanes are packed W to a chunk: every value is an explicit ``<W x T>`` vector, every chunk
  has an execution mask.
* Registers that the program writes have a row in the per-thread scratch (``nrows x Lp`` u64,
  canonical contents as in the VM); inside a *segment* (see below) they are SSA values of the
  chunk, loaded from the row at their first read and stored back (masked) at its end.
  Registers never written are computed: parameters are broadcast from the frame, special
  registers from the lane index, immediates are constants.
* Control flow reproduces the VM's scheduler: every lane has a pc (a row of i32; done lanes
  hold ``DONE``); the dispatcher takes the lowest pc among the block's lanes and runs the
  basic block starting there for the lanes at that pc (the mask), which then write their next
  pc. So lanes run the same instruction sequence, grouped the same way, as on the VM.
* A basic block runs chunk by chunk (all its instructions for lanes 0..W-1, then for W..2W-1,
  ...). The VM runs each instruction for all the group's lanes before the next; the two orders
  differ only if one chunk's memory accesses can see another's, i.e. if two accesses of the
  block are separated and one of them stores. Such blocks are cut into *segments* before each
  memory instruction after the first, and every segment runs over all chunks before the next:
  the order of global memory accesses is then the VM's exactly.
* Every global access looks its handle up and checks ``[offset, offset + n)`` against the
  buffer (window base included) for every active lane before any byte moves; failing lanes
  fault (the lowest lane of the chunk is recorded if it is the lowest of the thread, as the
  VM's ``fault()``), leave the mask and end.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from llvmlite import ir

from ..errors import NotCompilable
from ..isa import (GADDR, IMM, LABEL, OPTPRED, PRED, REG, REGIMM, SADDR, BufferOffset, Cond,
                   DType, Imm, Instruction, PhiCoordinate, RegisterIndirect,
                   RegisterIndirectComputed, SReg)
from .. import atlas

# Fields of the C struct JitFrame (hologram/_vm_jit.pxi), in order, 8 bytes each.
FRAME = ("regs", "preds", "pc", "params", "buf_handle", "buf_ptr", "buf_size", "buf_lo",
         "nbufs", "boundary", "gx", "gy", "gz", "fault_gid", "fault_code", "fault_pc",
         "d0", "d1", "d2", "d3", "d4", "budget", "max_steps")
F = {name: k for k, name in enumerate(FRAME)}

DONE = 0x7FFFFFFF               # the pc of a lane that has ended
POLL_LANE_STEPS = 1 << 16

# fault codes (hologram/_vm_ops.pxi F_*)
F_INVALID_HANDLE, F_OUT_OF_BOUNDS, F_DIV_ZERO, F_STEP_LIMIT = 4, 5, 8, 14
CLASS_HANDLE_BASE = 0xFFFFFFFFFFFFFFA0
CLASS_BYTES = atlas.CLASS_BYTES
BOUNDARY_BYTES = atlas.BOUNDARY_BYTES

I1, I8, I16, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
F32, F64 = ir.FloatType(), ir.DoubleType()
PTR = ir.PointerType()

# Instructions this increment compiles (the others raise NotCompilable with their name).
SUPPORTED = frozenset({
    "LDG", "STG", "MOV", "MOV_IMM", "MOV_SREG", "CVT", "ADD", "SUB", "MUL", "DIV", "REM", "MAD",
    "FMA", "MIN", "MAX", "ABS", "NEG", "AND", "OR", "XOR", "NOT", "SHL", "SHR", "SETcc", "SEL",
    "BRA", "LOOP", "EXIT", "MemFence", "EXP", "LOG", "LOG2", "LOG10", "SQRT", "RSQRT", "SIN",
    "COS", "TAN", "TANH", "SIGMOID", "POW", "PAND", "POR", "PXOR", "PNOT", "ERF", "EXP2",
    "FLOOR", "CEIL", "TRUNC", "ROUND"})
CONTROL = frozenset({"BRA", "LOOP", "EXIT"})
MEMORY = frozenset({"LDG", "STG"})
LIBM = {"EXP": "exp", "LOG": "log", "LOG2": "log2", "LOG10": "log10", "SIN": "sin",
        "COS": "cos", "TAN": "tan", "TANH": "tanh", "ERF": "erf", "EXP2": "exp2"}
ROUNDING = {"FLOOR": "llvm.floor", "CEIL": "llvm.ceil", "TRUNC": "llvm.trunc",
            "ROUND": "llvm.round"}


def leaders(instrs: Sequence[Instruction], labels: Dict[str, int]) -> List[int]:
    """The pcs where a lane can rest between groups: 0, branch targets, after control."""
    n = len(instrs)
    out = {0}
    for pc, ins in enumerate(instrs):
        if ins.variant in ("BRA", "LOOP"):
            out.add(labels[ins.target if ins.variant == "BRA" else ins.body])
        if ins.variant in CONTROL:
            out.add(pc + 1)
    return sorted(p for p in out if p < n)


def check_compilable(instrs: Sequence[Instruction]) -> None:
    """Raise NotCompilable naming the first instruction outside this increment's subset."""
    for pc, ins in enumerate(instrs):
        if ins.variant not in SUPPORTED:
            raise NotCompilable(f"pc {pc}: {ins.variant} ({str(ins)!r}) is not compiled yet")


class _Gen:
    def __init__(self, program, param_types: Tuple[Tuple[int, DType], ...],
                 block: Tuple[int, int, int], width: int, count_steps: bool = False):
        self.prog = program
        self.instrs = list(program.instructions)
        self.labels = program.labels
        check_compilable(self.instrs)
        self.W = width
        self.Bx, self.By, self.Bz = block
        self.L = self.Bx * self.By * self.Bz
        self.nchunks = (self.L + width - 1) // width
        self.Lp = self.nchunks * width
        self.params = {r: k for k, (r, _) in enumerate(param_types)}
        written = set()
        preds = set()
        for ins in self.instrs:
            for f, v in zip(ins.spec.fields, ins.values):
                if f.kind == REG and f.role in ("w", "rw"):
                    written.add(v)
                if f.kind in (PRED, OPTPRED) and v is not None:
                    preds.add(v)
        self.row = {r: k for k, r in enumerate(sorted(written))}
        # max_steps: each lane's executed instructions in a row after the registers
        self.count_steps = count_steps
        self.steps_row = len(self.row)
        self.nrows = len(self.row) + int(count_steps)
        self.npreds = max(preds, default=-1) + 1
        self.module = ir.Module(name="hologram_jit")
        self.VI64 = ir.VectorType(I64, width)
        self.VI32 = ir.VectorType(I32, width)
        self.VI1 = ir.VectorType(I1, width)
        self._libm: Dict[str, ir.Function] = {}

    # ---- small helpers
    def vec(self, ty, n=None):
        return ir.VectorType(ty, n or self.W)

    def splat(self, b, x):
        v = b.insert_element(ir.Constant(self.vec(x.type), ir.Undefined), x, ir.Constant(I32, 0))
        return b.shuffle_vector(v, ir.Constant(self.vec(x.type), ir.Undefined),
                                ir.Constant(self.vec(I32), [0] * self.W))

    def cvec(self, ty, value):
        return ir.Constant(self.vec(ty), [value] * self.W)

    def cvec_list(self, ty, values):
        return ir.Constant(self.vec(ty), list(values))

    def intrinsic(self, name: str, ret, args):
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ret, args), name=name)
        return fn

    def vsuffix(self, ty):
        e = ty.element
        if isinstance(e, ir.IntType):
            s = f"i{e.width}"
        elif isinstance(e, ir.DoubleType):
            s = "f64"
        elif isinstance(e, ir.PointerType):
            s = "p0"
        else:
            s = "f32"
        return f"v{ty.count}{s}"

    def frame_field(self, b, name, ty=I64):
        p = b.gep(self.frame, [ir.Constant(I64, F[name])], source_etype=I64)
        return b.load(p, typ=ty)

    def frame_ptr(self, b, name):
        return b.gep(self.frame, [ir.Constant(I64, F[name])], source_etype=I64)

    def any_true(self, b, mask):
        return b.icmp_unsigned("!=", b.bitcast(mask, ir.IntType(self.W)), ir.Constant(ir.IntType(self.W), 0))

    # ---- the function
    def build(self) -> ir.Module:
        fnty = ir.FunctionType(I32, [PTR, I64])
        fn = ir.Function(self.module, fnty, name="hg_block")
        self.fn = fn
        self.frame, self.blockid = fn.args
        self._make_record_fault()
        self._make_lookup()
        entry = fn.append_basic_block("entry")
        b = ir.IRBuilder(entry)
        self.frame, self.blockid = fn.args
        L = self.L
        self.base_gid = b.mul(self.blockid, ir.Constant(I64, L))
        gx = self.frame_field(b, "gx")
        gy = self.frame_field(b, "gy")
        self.gdim = (gx, gy, self.frame_field(b, "gz"))
        self.bx = b.urem(self.blockid, gx)
        self.by = b.udiv(b.urem(self.blockid, b.mul(gx, gy)), gx)
        self.bz = b.udiv(self.blockid, b.mul(gx, gy))
        self.regs = self.frame_field(b, "regs", PTR)
        self.predp = self.frame_field(b, "preds", PTR)
        self.pcp = self.frame_field(b, "pc", PTR)
        self.paramp = self.frame_field(b, "params", PTR)
        self.param_val = {r: b.load(b.gep(self.paramp, [ir.Constant(I64, k)], source_etype=I64), typ=I64)
                          for r, k in self.params.items()}
        self.max_steps = self.frame_field(b, "max_steps") if count_steps_ok(self) else None
        # buffers whose handle is the same for the whole launch (an immediate, or a parameter
        # register never written): looked up once per block call
        self.uniform_lookup = {}
        sizep, lop = b.alloca(I64), b.alloca(I64)
        for ins in self.instrs:
            if ins.variant in MEMORY:
                key = self._uniform_handle(ins)
                if key is not None and key not in self.uniform_lookup:
                    h = ir.Constant(I64, key[1]) if key[0] == "const" else self.param_val[key[1]]
                    p = b.call(self.lookup, [self.frame, h, sizep, lop])
                    self.uniform_lookup[key] = (b.ptrtoint(p, I64), b.load(sizep, typ=I64),
                                                b.load(lop, typ=I64), p)
        # block start: every lane at pc 0 (padding lanes done); rows of written registers that
        # start with a value (parameters, special registers) filled
        b = self._chunk_loop(b, "init", self._init_chunk)
        dispatch = fn.append_basic_block("dispatch")
        b.branch(dispatch)
        b = ir.IRBuilder(dispatch)
        # poll budget
        budp = self.frame_ptr(b, "budget")
        bud = b.sub(b.load(budp, typ=I64), ir.Constant(I64, L))
        b.store(bud, budp)
        dopoll = fn.append_basic_block("poll")
        findmin = fn.append_basic_block("findmin")
        b.cbranch(b.icmp_signed("<=", bud, ir.Constant(I64, 0)), dopoll, findmin)
        pb = ir.IRBuilder(dopoll)
        pollfn = ir.Function(self.module, ir.FunctionType(I32, [PTR]), name="hg_jit_poll")
        call = pb.call(pollfn, [self.frame])
        aborted = fn.append_basic_block("aborted")
        pb.cbranch(pb.icmp_signed("!=", call, ir.Constant(I32, 0)), aborted, findmin)
        ir.IRBuilder(aborted).ret(ir.Constant(I32, 1))
        # lowest pc
        b = ir.IRBuilder(findmin)
        acc = self.cvec(I32, DONE)
        accp = b.alloca(self.VI32)
        b.store(acc, accp)

        def minchunk(bb, i):
            pcv = bb.load(bb.gep(self.pcp, [i], source_etype=self.VI32), typ=self.VI32)
            a = bb.load(accp, typ=self.VI32)
            bb.store(bb.select(bb.icmp_signed("<", pcv, a), pcv, a), accp)
            return bb
        b = self._chunk_loop(b, "min", minchunk)
        a = b.load(accp, typ=self.VI32)
        red = self.intrinsic(f"llvm.vector.reduce.smin.{self.vsuffix(self.VI32)}", I32, [self.VI32])
        minpc = b.call(red, [a])
        done = fn.append_basic_block("done")
        ir.IRBuilder(done).ret(ir.Constant(I32, 0))
        lead = leaders(self.instrs, self.labels)
        sw = b.switch(minpc, done)
        self.dispatch = dispatch
        bounds = lead + [len(self.instrs)]
        for k, start in enumerate(lead):
            bb = fn.append_basic_block(f"pc{start}")
            sw.add_case(ir.Constant(I32, start), bb)
            self._basic_block(ir.IRBuilder(bb), start, bounds[k + 1])
        return self.module

    # ---- chunk loops
    def _chunk_loop(self, b, name, body):
        """for i in 0 .. nchunks-1: body(builder, i) (body returns the builder it ends in).
        Returns a builder positioned after the loop."""
        fn = self.fn
        pre = b.block
        head = fn.append_basic_block(f"{name}.head")
        exit_ = fn.append_basic_block(f"{name}.exit")
        b.branch(head)
        hb = ir.IRBuilder(head)
        i = hb.phi(I64, name="i")
        i.add_incoming(ir.Constant(I64, 0), pre)
        hb = body(hb, i) or hb
        nxt = hb.add(i, ir.Constant(I64, 1))
        i.add_incoming(nxt, hb.block)
        hb.cbranch(hb.icmp_unsigned("<", nxt, ir.Constant(I64, self.nchunks)), head, exit_)
        return ir.IRBuilder(exit_)

    def lane_index(self, b, i):
        """<W x i64> linear lane indices of chunk i."""
        base = self.splat(b, b.mul(i, ir.Constant(I64, self.W)))
        return b.add(base, ir.Constant(self.VI64, list(range(self.W))))

    def _init_chunk(self, b, i):
        lane = self.lane_index(b, i)
        pcv = b.select(b.icmp_unsigned("<", lane, self.cvec(I64, self.L)), self.cvec(I32, 0),
                       self.cvec(I32, DONE))
        b.store(pcv, b.gep(self.pcp, [i], source_etype=self.VI32))
        for r, k in self.row.items():
            v = self.initial_value(b, r, lane)
            if v is not None:
                b.store(v, self.row_ptr(b, k, i))
        if self.count_steps:
            b.store(self.cvec(I64, 0), self.row_ptr(b, self.steps_row, i))
        return b

    def row_ptr(self, b, k, i):
        return b.gep(self.regs, [b.add(ir.Constant(I64, k * self.nchunks), i)],
                     source_etype=self.VI64)

    def pred_ptr(self, b, p, i):
        VI8 = self.vec(I8)
        return b.gep(self.predp, [b.add(ir.Constant(I64, p * self.nchunks), i)], source_etype=VI8)

    def initial_value(self, b, r, lane):
        """A register's value at lane start, or None (then no read precedes a write)."""
        if r in self.params:
            return self.splat(b, self.param_val[r])
        if r == 252:
            return self.sreg(b, SReg.LaneX, lane)
        if r == 253:
            return self.sreg(b, SReg.BlockX, lane)
        if r == 254:
            return self.sreg(b, SReg.BlockDimX, lane)
        if r == 255:
            return self.sreg(b, SReg.GlobalId, lane)
        return None

    def sreg(self, b, s, lane):
        c = lambda v: self.cvec(I64, v)
        Bx, By, Bz = self.Bx, self.By, self.Bz
        if s == SReg.LaneX:
            return b.urem(lane, c(Bx))
        if s == SReg.LaneY:
            return b.urem(b.udiv(lane, c(Bx)), c(By))
        if s == SReg.LaneZ:
            return b.udiv(lane, c(Bx * By))
        if s == SReg.BlockX:
            return self.splat(b, self.bx)
        if s == SReg.BlockY:
            return self.splat(b, self.by)
        if s == SReg.BlockZ:
            return self.splat(b, self.bz)
        if s == SReg.BlockDimX:
            return c(Bx)
        if s == SReg.BlockDimY:
            return c(By)
        if s == SReg.BlockDimZ:
            return c(Bz)
        if s in (SReg.GridDimX, SReg.GridDimY, SReg.GridDimZ):
            return self.splat(b, self.gdim[int(s) - int(SReg.GridDimX)])
        if s == SReg.GlobalId:
            return b.add(self.splat(b, self.base_gid), lane)
        if s == SReg.LaneId:
            return b.urem(lane, c(32))
        if s == SReg.WarpId:
            return b.udiv(lane, c(32))
        raise NotCompilable(f"special register {s!r}")

    # ---- basic blocks and segments
    def _basic_block(self, b, start, end):
        body = list(range(start, end))
        last = self.instrs[end - 1]
        # segments: cut before every memory instruction after the first when one stores
        mems = [pc for pc in body if self.instrs[pc].variant in MEMORY]
        cuts = []
        if len(mems) >= 2 and any(self.instrs[pc].variant == "STG" for pc in mems):
            cuts = mems[1:]
        segs: List[List[int]] = []
        cur: List[int] = []
        for pc in body:
            if pc in cuts and cur:
                segs.append(cur)
                cur = []
            cur.append(pc)
        segs.append(cur)
        # poll budget: the block's lane-instructions
        budp = self.frame_ptr(b, "budget")
        b.store(b.sub(b.load(budp, typ=I64), ir.Constant(I64, self.L * len(body))), budp)
        for k, seg in enumerate(segs):
            is_last = k == len(segs) - 1
            b = self._chunk_loop(b, f"s{seg[0]}",
                                 lambda bb, i, seg=seg, is_last=is_last, start=start:
                                 self._segment_chunk(bb, i, seg, start, end, is_last))
        b.branch(self.dispatch)

    def _segment_chunk(self, b, i, seg, start, end, is_last):
        fn = self.fn
        pcptr = b.gep(self.pcp, [i], source_etype=self.VI32)
        pcv = b.load(pcptr, typ=self.VI32)
        entry = b.icmp_signed("==", pcv, self.cvec(I32, start))
        run = fn.append_basic_block("run")
        skip = fn.append_basic_block("skip")
        b.cbranch(self.any_true(b, entry), run, skip)
        b = ir.IRBuilder(run)
        st = _ChunkState(self, b, i, entry)
        newpc = None
        for pc in seg:
            ins = self.instrs[pc]
            st.step(pc)
            if ins.variant in CONTROL:
                newpc = self._control(st, pc, ins)
            else:
                self._instruction(st, pc, ins)
        b = st.b
        if is_last and newpc is None:           # falls through to the next leader
            nxt = end if end < len(self.instrs) else DONE
            newpc = self.cvec(I32, nxt)
        if newpc is None:
            newpc = pcv
        newpc = b.select(st.faulted, self.cvec(I32, DONE), newpc)
        b.store(b.select(entry, newpc, pcv), pcptr)
        st.flush(entry)
        b.branch(skip)
        return ir.IRBuilder(skip)

    # ---- faults
    def _make_record_fault(self):
        """void record(frame, gid, code, pc, d0..d4): keep the lowest global lane's fault."""
        fnty = ir.FunctionType(ir.VoidType(), [PTR, I64, I64, I64] + [I64] * 5)
        fn = ir.Function(self.module, fnty, name="hg_record_fault")
        fn.linkage = "internal"
        frame, gid = fn.args[0], fn.args[1]
        b = ir.IRBuilder(fn.append_basic_block())
        gp = b.gep(frame, [ir.Constant(I64, F["fault_gid"])], source_etype=I64)
        old = b.load(gp, typ=I64)
        better = b.or_(b.icmp_signed("<", old, ir.Constant(I64, 0)), b.icmp_signed("<", gid, old))
        with b.if_then(better):
            for k, name in enumerate(("fault_gid", "fault_code", "fault_pc", "d0", "d1", "d2",
                                      "d3", "d4")):
                b.store(fn.args[1 + k], b.gep(frame, [ir.Constant(I64, F[name])], source_etype=I64))
        b.ret_void()
        self.record_fault = fn

    def fault(self, st, bad, pc, code, details):
        """Fault the lanes of `bad` (<W x i1>, already within the mask): record the lowest,
        drop them from the mask. details: <W x i64> vectors or ints."""
        b = st.b
        fn = self.fn
        yes = fn.append_basic_block("fault")
        cont = fn.append_basic_block("cont")
        b.cbranch(self.any_true(b, bad), yes, cont)
        fb = ir.IRBuilder(yes)
        IW = ir.IntType(self.W)
        bits = fb.bitcast(bad, IW)
        cttz = self.intrinsic(f"llvm.cttz.i{self.W}", IW, [IW, I1])
        lane = fb.call(cttz, [bits, ir.Constant(I1, 1)])
        lane64 = fb.zext(lane, I64) if self.W < 64 else lane
        gid = fb.add(fb.add(self.base_gid, fb.mul(st.i, ir.Constant(I64, self.W))), lane64)
        ds = []
        for d in list(details) + [0] * (5 - len(details)):
            ds.append(ir.Constant(I64, d) if isinstance(d, int) else fb.extract_element(d, lane))
        fb.call(self.record_fault, [self.frame, gid, ir.Constant(I64, code), ir.Constant(I64, pc)] + ds)
        fb.branch(cont)
        st.b = ir.IRBuilder(cont)
        notbad = st.b.xor(bad, ir.Constant(self.VI1, [1] * self.W))
        st.mask = st.b.and_(st.mask, notbad)
        st.faulted = st.b.or_(st.faulted, bad)

    # ---- buffer lookup
    def _make_lookup(self):
        """ptr lookup(frame, h, ptr size_out, ptr lo_out): a buffer's first byte, or null."""
        fnty = ir.FunctionType(PTR, [PTR, I64, PTR, PTR])
        fn = ir.Function(self.module, fnty, name="hg_lookup")
        fn.linkage = "internal"
        frame, h, sizep, lop = fn.args
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        b.store(ir.Constant(I64, 0), lop)
        bnd = b.load(b.gep(frame, [ir.Constant(I64, F["boundary"])], source_etype=I64), typ=PTR)
        is0 = fn.append_basic_block("h0")
        not0 = fn.append_basic_block("not0")
        b.cbranch(b.icmp_unsigned("==", h, ir.Constant(I64, 0)), is0, not0)
        bb = ir.IRBuilder(is0)
        bb.store(ir.Constant(I64, BOUNDARY_BYTES), sizep)
        bb.ret(bnd)
        b = ir.IRBuilder(not0)
        iscls = fn.append_basic_block("cls")
        search = fn.append_basic_block("search")
        b.cbranch(b.icmp_unsigned(">=", h, ir.Constant(I64, CLASS_HANDLE_BASE)), iscls, search)
        bb = ir.IRBuilder(iscls)
        bb.store(ir.Constant(I64, CLASS_BYTES), sizep)
        off = bb.mul(bb.sub(h, ir.Constant(I64, CLASS_HANDLE_BASE)), ir.Constant(I64, CLASS_BYTES))
        bb.ret(bb.gep(bnd, [off], source_etype=I8))
        b = ir.IRBuilder(search)
        field = lambda name: b.load(b.gep(frame, [ir.Constant(I64, F[name])], source_etype=I64), typ=PTR)
        hs, ps, ss, ls = field("buf_handle"), field("buf_ptr"), field("buf_size"), field("buf_lo")
        n = b.load(b.gep(frame, [ir.Constant(I64, F["nbufs"])], source_etype=I64), typ=I64)
        head = fn.append_basic_block("head")
        body = fn.append_basic_block("body")
        found = fn.append_basic_block("found")
        miss = fn.append_basic_block("miss")
        step = fn.append_basic_block("step")
        b.branch(head)
        hb = ir.IRBuilder(head)
        lo = hb.phi(I64)
        hi = hb.phi(I64)
        lo.add_incoming(ir.Constant(I64, 0), search)
        hb.cbranch(hb.icmp_signed("<=", lo, hi), body, miss)
        # (hi's incoming from `search` is set below, once n is known in that block)
        bb = ir.IRBuilder(body)
        mid = bb.ashr(bb.add(lo, hi), ir.Constant(I64, 1))
        hm = bb.load(bb.gep(hs, [mid], source_etype=I64), typ=I64)
        bb.cbranch(bb.icmp_unsigned("==", hm, h), found, step)
        sb = ir.IRBuilder(step)
        less = sb.icmp_unsigned("<", hm, h)
        lo.add_incoming(sb.select(less, sb.add(mid, ir.Constant(I64, 1)), lo), step)
        hi.add_incoming(sb.select(less, hi, sb.sub(mid, ir.Constant(I64, 1))), step)
        sb.branch(head)
        hi.add_incoming(_n_minus_1(search, n), search)
        fb = ir.IRBuilder(found)
        fb.store(fb.load(fb.gep(ss, [mid], source_etype=I64), typ=I64), sizep)
        fb.store(fb.load(fb.gep(ls, [mid], source_etype=I64), typ=I64), lop)
        p = fb.load(fb.gep(ps, [mid], source_etype=PTR), typ=PTR)
        isnull = fb.icmp_unsigned("==", fb.ptrtoint(p, I64), ir.Constant(I64, 0))
        fb.ret(fb.select(isnull, bnd, p))     # an empty buffer: the boundary (never accessed)
        ir.IRBuilder(miss).ret(ir.Constant(PTR, None))
        self.lookup = fn

    # ---- instructions
    def _instruction(self, st, pc, ins):
        v = ins.variant
        if v == "MemFence":
            return
        if v in MEMORY:
            return self._memory(st, pc, ins)
        b = st.b
        if v == "MOV":
            st.set(ins.dst, st.read(ins.src))
            return
        if v == "MOV_IMM":
            from ..vm import canonical
            st.set(ins.dst, self.cvec(I64, canonical(ins.ty, ins.value)))
            return
        if v == "MOV_SREG":
            st.set(ins.dst, self.sreg(b, ins.sreg, self.lane_index(b, st.i)))
            return
        if v == "CVT":
            st.set(ins.dst, self._cvt(b, st.read(ins.src), ins.src_ty, ins.dst_ty))
            return
        if v == "SETcc":
            st.setp(ins.dst, self._compare(b, ins.ty, ins.cond, st.operand(ins, "src1"),
                                           st.operand(ins, "src2")))
            return
        if v == "SEL":
            p = st.readp(ins.pred)
            t, f_ = st.read(ins.src_true), st.read(ins.src_false)
            if ins.negate:
                t, f_ = f_, t
            st.set(ins.dst, b.select(p, t, f_))
            return
        if v in ("PAND", "POR", "PXOR"):
            x, y = st.readp(ins.src1), st.readp(ins.src2)
            op = {"PAND": b.and_, "POR": b.or_, "PXOR": b.xor}[v]
            st.setp(ins.dst, op(x, y))
            return
        if v == "PNOT":
            st.setp(ins.dst, b.xor(st.readp(ins.src), ir.Constant(self.VI1, [1] * self.W)))
            return
        ty = ins.ty
        srcs = [st.operand(ins, f.name) for f in ins.spec.fields if f.kind in (REG, REGIMM)
                and f.role == "r"]
        if ty.is_float:
            st.set(ins.dst, self._float_op(st, pc, v, ty, srcs))
        else:
            st.set(ins.dst, self._int_op(st, pc, v, ty, srcs))

    def _int_op(self, st, pc, v, ty, srcs):
        b = st.b
        n = ty.bits
        IT = self.vec(ir.IntType(n))
        sgn = ty.is_signed
        xs = [b.trunc(s, IT) if n < 64 else s for s in srcs]
        c = lambda k: ir.Constant(IT, [k] * self.W)
        if v in ("SHL", "SHR"):
            amt = b.and_(srcs[1], self.cvec(I64, n - 1))
            amt = b.trunc(amt, IT) if n < 64 else amt
            x = xs[0]
            r = b.shl(x, amt) if v == "SHL" else (b.ashr(x, amt) if sgn else b.lshr(x, amt))
        elif v in ("ADD", "SUB", "MUL", "AND", "OR", "XOR"):
            op = {"ADD": b.add, "SUB": b.sub, "MUL": b.mul, "AND": b.and_, "OR": b.or_,
                  "XOR": b.xor}[v]
            r = op(xs[0], xs[1])
        elif v == "MAD":
            r = b.add(b.mul(xs[0], xs[1]), xs[2])
        elif v in ("DIV", "REM"):
            x, y = xs
            zero = b.icmp_unsigned("==", y, c(0))
            self.fault(st, b.and_(zero, st.mask), pc, F_DIV_ZERO, [])
            b = st.b
            if sgn:
                m1 = b.icmp_signed("==", y, c(-1))
                safe = b.select(b.or_(zero, m1), c(1), y)
                q = b.sdiv(x, safe) if v == "DIV" else b.srem(x, safe)
                special = b.sub(c(0), x) if v == "DIV" else c(0)
                r = b.select(m1, special, q)
            else:
                safe = b.select(zero, c(1), y)
                r = b.udiv(x, safe) if v == "DIV" else b.urem(x, safe)
        elif v in ("MIN", "MAX"):
            x, y = xs
            if v == "MIN":
                lt = b.icmp_signed("<", x, y) if sgn else b.icmp_unsigned("<", x, y)
            else:
                lt = b.icmp_signed(">", x, y) if sgn else b.icmp_unsigned(">", x, y)
            r = b.select(lt, x, y)
        elif v == "ABS":
            x = xs[0]
            r = b.select(b.icmp_signed("<", x, c(0)), b.sub(c(0), x), x)
        elif v == "NEG":
            r = b.sub(c(0), xs[0])
        elif v == "NOT":
            r = b.xor(xs[0], c(-1))
        else:
            raise NotCompilable(f"pc {pc}: {v}.{ty.name.lower()}")
        if n == 64:
            return r
        return b.sext(r, self.VI64) if sgn else b.zext(r, self.VI64)

    def fvals(self, b, x, ty):
        """A float register as <W x double> (f64) or <W x float> (f32; f16 and bf16 widened
        exactly, as the VM's ld_f)."""
        if ty == DType.F64:
            return b.bitcast(x, self.vec(F64))
        x32 = b.trunc(x, self.VI32)
        if ty == DType.BF16:
            x32 = b.shl(x32, self.cvec(I32, 16))
        elif ty == DType.F16:
            x32 = self.widen_f16(b, x32)
        return b.bitcast(x32, self.vec(F32))

    def fbits(self, b, f, ty):
        """<W x float/double> as the register content of type ty (f16/bf16 rounded as the
        VM's st_f)."""
        if ty == DType.F64:
            return b.bitcast(f, self.VI64)
        x32 = b.bitcast(f, self.VI32)
        if ty == DType.F16:
            x32 = self.round_f16(b, x32)
        elif ty == DType.BF16:
            x32 = self.round_bf16(b, x32)
        return b.zext(x32, self.VI64)

    def widen_f16(self, b, h):
        """hg_widen_f16 (hologram/_vmhelpers.h) on <W x i32>: exact, NaN payloads kept."""
        c = lambda v: self.cvec(I32, v)
        sign = b.shl(b.and_(h, c(0x8000)), c(16))
        exp = b.and_(b.lshr(h, c(10)), c(0x1F))
        man = b.and_(h, c(0x3FF))
        special = b.or_(b.or_(sign, c(0x7F800000)), b.shl(man, c(13)))
        normal = b.or_(b.or_(sign, b.shl(b.add(exp, c(127 - 15)), c(23))), b.shl(man, c(13)))
        # subnormal: man * 2^-24 is a normal f32, exactly
        sub = b.fmul(b.uitofp(man, self.vec(F32)), ir.Constant(self.vec(F32), [2.0 ** -24] * self.W))
        sub = b.or_(sign, b.bitcast(sub, self.VI32))
        r = b.select(b.icmp_unsigned("==", exp, c(0x1F)), special, normal)
        return b.select(b.icmp_unsigned("==", exp, c(0)), sub, r)

    def round_f16(self, b, x):
        """hg_round_f16 on <W x i32> f32 bits: round to nearest even, the project's NaNs."""
        c = lambda v: self.cvec(I32, v)
        sign = b.and_(b.lshr(x, c(16)), c(0x8000))
        exp = b.and_(b.lshr(x, c(23)), c(0xFF))
        man = b.and_(x, c(0x7FFFFF))
        nanv = b.or_(b.or_(sign, c(0x7C00)),
                     b.select(b.icmp_unsigned("!=", man, c(0)),
                              b.or_(c(0x200), b.lshr(man, c(13))), c(0)))
        e = b.sub(exp, c(127 - 15))
        inf = b.or_(sign, c(0x7C00))
        # subnormal results (e <= 0, e >= -10)
        m = b.or_(man, c(0x800000))
        shift = b.and_(b.sub(c(14), e), c(31))
        half = b.shl(c(1), b.and_(b.sub(shift, c(1)), c(31)))
        rest = b.and_(m, b.sub(b.shl(c(1), shift), c(1)))
        out = b.lshr(m, shift)
        up = b.or_(b.icmp_unsigned(">", rest, half),
                   b.and_(b.icmp_unsigned("==", rest, half),
                          b.icmp_unsigned("!=", b.and_(out, c(1)), c(0))))
        subv = b.or_(sign, b.add(out, b.zext(up, self.VI32)))
        subv = b.select(b.icmp_signed("<", e, c(-10)), sign, subv)
        # normal results
        out = b.or_(b.shl(e, c(10)), b.lshr(man, c(13)))
        rest = b.and_(man, c(0x1FFF))
        up = b.or_(b.icmp_unsigned(">", rest, c(0x1000)),
                   b.and_(b.icmp_unsigned("==", rest, c(0x1000)),
                          b.icmp_unsigned("!=", b.and_(out, c(1)), c(0))))
        norm = b.or_(sign, b.add(out, b.zext(up, self.VI32)))
        r = b.select(b.icmp_signed("<=", e, c(0)), subv, norm)
        r = b.select(b.icmp_signed(">=", e, c(0x1F)), inf, r)
        return b.select(b.icmp_unsigned("==", exp, c(0xFF)), nanv, r)

    def round_bf16(self, b, x):
        """hg_round_bf16 on <W x i32> f32 bits."""
        c = lambda v: self.cvec(I32, v)
        isnan = b.and_(b.icmp_unsigned("==", b.and_(x, c(0x7F800000)), c(0x7F800000)),
                       b.icmp_unsigned("!=", b.and_(x, c(0x7FFFFF)), c(0)))
        nanv = b.or_(b.lshr(x, c(16)), c(0x40))
        x64 = b.zext(x, self.VI64)
        odd = b.zext(b.and_(b.lshr(x, c(16)), c(1)), self.VI64)
        r = b.add(b.add(x64, self.cvec(I64, 0x7FFF)), odd)
        r = b.trunc(b.and_(b.lshr(r, self.cvec(I64, 16)), self.cvec(I64, 0xFFFF)), self.VI32)
        return b.select(isnan, nanv, r)

    def libm_call(self, b, name, ty, args):
        """Call the C library function per lane (the VM's exact results)."""
        et = F64 if ty == DType.F64 else F32
        cname = name if ty == DType.F64 else name + "f"
        fn = self.module.globals.get(cname)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(et, [et] * len(args)), name=cname)
        out = ir.Constant(self.vec(et), ir.Undefined)
        for k in range(self.W):
            idx = ir.Constant(I32, k)
            r = b.call(fn, [b.extract_element(a, idx) for a in args])
            out = b.insert_element(out, r, idx)
        return out

    def _float_op(self, st, pc, v, ty, srcs):
        b = st.b
        et = F64 if ty == DType.F64 else F32
        VT = self.vec(et)
        if v in ("ABS", "NEG"):
            sign = self.cvec(I64, 1 << (ty.bits - 1))
            x = srcs[0]
            return b.and_(x, b.xor(sign, self.cvec(I64, -1))) if v == "ABS" else b.xor(x, sign)
        xs = [self.fvals(b, s, ty) for s in srcs]
        fc = lambda k: ir.Constant(VT, [k] * self.W)
        if v in ("ADD", "SUB", "MUL", "DIV"):
            op = {"ADD": b.fadd, "SUB": b.fsub, "MUL": b.fmul, "DIV": b.fdiv}[v]
            r = op(xs[0], xs[1])
        elif v == "MAD":
            r = b.fadd(b.fmul(xs[0], xs[1]), xs[2])
        elif v == "FMA":
            fma = self.intrinsic(f"llvm.fma.{self.vsuffix(VT)}", VT, [VT, VT, VT])
            r = b.call(fma, xs)
        elif v in ("MIN", "MAX"):
            x, y = xs
            IT = self.VI64 if ty == DType.F64 else self.VI32
            sx = b.icmp_signed("<", b.bitcast(x, IT), ir.Constant(IT, [0] * self.W))
            nx = b.fcmp_unordered("uno", x, x)
            ny = b.fcmp_unordered("uno", y, y)
            if v == "MIN":
                lt, gt = b.fcmp_ordered("<", x, y), b.fcmp_ordered("<", y, x)
                tie = b.select(sx, x, y)
            else:
                lt, gt = b.fcmp_ordered(">", x, y), b.fcmp_ordered(">", y, x)
                tie = b.select(sx, y, x)
            r = b.select(nx, y, b.select(ny, x, b.select(lt, x, b.select(gt, y, tie))))
        elif v == "SQRT":
            sq = self.intrinsic(f"llvm.sqrt.{self.vsuffix(VT)}", VT, [VT])
            r = b.call(sq, xs)
        elif v == "RSQRT":
            sq = self.intrinsic(f"llvm.sqrt.{self.vsuffix(VT)}", VT, [VT])
            r = b.fdiv(fc(1.0), b.call(sq, xs))
        elif v == "SIGMOID":
            t = self.libm_call(b, "exp", ty, [b.fsub(fc(-0.0), xs[0])])
            r = b.fdiv(fc(1.0), b.fadd(fc(1.0), t))
        elif v == "POW":
            a, e = xs
            one = b.or_(b.fcmp_ordered("==", e, fc(0.0)), b.fcmp_ordered("==", a, fc(1.0)))
            r = b.select(one, fc(1.0), self.libm_call(b, "pow", ty, [a, e]))
        elif v in LIBM:
            r = self.libm_call(b, LIBM[v], ty, xs)
        elif v in ROUNDING:
            fnr = self.intrinsic(f"{ROUNDING[v]}.{self.vsuffix(VT)}", VT, [VT])
            r = b.call(fnr, xs)
        else:
            raise NotCompilable(f"pc {pc}: {v}.{ty.name.lower()}")
        return self.fbits(b, r, ty)

    def _compare(self, b, ty, cond, x, y):
        cond = Cond(cond)
        if ty.is_float:
            fx, fy = self.fvals(b, x, ty), self.fvals(b, y, ty)
            base = Cond(cond - Cond.LTU + Cond.LT) if cond >= Cond.LTU else cond
            if base == Cond.NE:
                return b.fcmp_unordered("!=", fx, fy)
            op = {Cond.EQ: "==", Cond.LT: "<", Cond.LE: "<=", Cond.GT: ">", Cond.GE: ">="}[base]
            return b.fcmp_ordered(op, fx, fy)
        if cond >= Cond.LTU or not ty.is_signed:
            base = Cond(cond - Cond.LTU + Cond.LT) if cond >= Cond.LTU else cond
            if ty.bits < 64:
                IT = self.vec(ir.IntType(ty.bits))
                x, y = b.trunc(x, IT), b.trunc(y, IT)
            op = {Cond.EQ: "==", Cond.NE: "!=", Cond.LT: "<", Cond.LE: "<=", Cond.GT: ">",
                  Cond.GE: ">="}[base]
            return b.icmp_unsigned(op, x, y)
        op = {Cond.EQ: "==", Cond.NE: "!=", Cond.LT: "<", Cond.LE: "<=", Cond.GT: ">",
              Cond.GE: ">="}[cond]
        return b.icmp_signed(op, x, y)

    def _cvt(self, b, x, st_, dt):
        if st_ == dt:
            return x
        if not st_.is_float:
            if not dt.is_float:
                if dt.bits == 64:
                    return x
                t = b.trunc(x, self.vec(ir.IntType(dt.bits)))
                return b.sext(t, self.VI64) if dt.is_signed else b.zext(t, self.VI64)
            et = F64 if dt == DType.F64 else F32
            f = b.sitofp(x, self.vec(et)) if st_.is_signed else b.uitofp(x, self.vec(et))
            return self.fbits(b, f, dt)
        d = self.fvals(b, x, st_)
        if st_ != DType.F64:
            d = b.fpext(d, self.vec(F64))
        if not dt.is_float:
            IT = self.vec(ir.IntType(dt.bits))
            name = "llvm.fptosi.sat" if dt.is_signed else "llvm.fptoui.sat"
            fn = self.intrinsic(f"{name}.{self.vsuffix(IT)}.{self.vsuffix(self.vec(F64))}", IT,
                                [self.vec(F64)])
            t = b.call(fn, [d])
            if dt.bits == 64:
                return t
            return b.sext(t, self.VI64) if dt.is_signed else b.zext(t, self.VI64)
        if dt == DType.F64:
            return self.fbits(b, d, dt)
        return self.fbits(b, b.fptrunc(d, self.vec(F32)), dt)

    # ---- global memory
    def _address(self, st, ins):
        """(h, off) as <W x i64>, and whether h is uniform for the whole launch."""
        b = st.b
        a = ins.addr
        if isinstance(a, BufferOffset):
            return self.cvec(I64, a.handle), self.cvec(I64, a.offset & (2**64 - 1)), True
        if isinstance(a, PhiCoordinate):
            return (self.cvec(I64, 0),
                    self.cvec(I64, atlas.boundary_offset(a.cls, a.page, a.byte)), True)
        if isinstance(a, RegisterIndirect):
            h = st.read(a.base)
            return h, self.cvec(I64, a.offset & (2**64 - 1)), False
        assert isinstance(a, RegisterIndirectComputed)
        h = st.read(a.handle_reg)
        o = st.read(a.offset_reg)
        sh = a.scale.bit_length() - 1
        off = b.add(b.shl(o, self.cvec(I64, sh)), self.cvec(I64, a.disp & (2**64 - 1)))
        return h, off, False

    def _uniform_handle(self, ins):
        """("const", h) or ("param", r) if the access's handle is the same for the whole
        launch, else None."""
        a = ins.addr
        if isinstance(a, BufferOffset):
            return ("const", a.handle)
        if isinstance(a, PhiCoordinate):
            return ("const", 0)
        r = a.base if isinstance(a, RegisterIndirect) else a.handle_reg
        if r in self.params and r not in self.row:
            return ("param", r)
        return None

    def _memory(self, st, pc, ins):
        fn = self.fn
        ty = ins.ty
        n = ty.bits // 8
        h, off, _ = self._address(st, ins)
        b = st.b
        IW = ir.IntType(self.W)
        key = self._uniform_handle(ins)
        if key is not None:
            p0, s0, l0, base = self.uniform_lookup[key]
            return self._access(st, pc, ins, h, off, self.splat(b, p0), self.splat(b, s0),
                                self.splat(b, l0), base)
        # the handle of the first active lane; if all active lanes share it, one lookup
        bits = b.bitcast(st.mask, IW)
        cttz = self.intrinsic(f"llvm.cttz.i{self.W}", IW, [IW, I1])
        first = b.call(cttz, [bits, ir.Constant(I1, 0)])
        first = b.select(b.icmp_unsigned("==", bits, ir.Constant(IW, 0)), ir.Constant(IW, 0), first)
        h0 = b.extract_element(h, b.zext(first, I32) if self.W < 32 else b.trunc(first, I32))
        same = b.icmp_unsigned("==", h, self.splat(b, h0))
        allsame = b.icmp_unsigned("==", b.bitcast(b.or_(same, b.xor(st.mask, ir.Constant(self.VI1, [1] * self.W))), IW),
                                  ir.Constant(IW, -1))
        sizep = st.sizep
        lop = st.lop
        one = fn.append_basic_block("lk.one")
        many = fn.append_basic_block("lk.many")
        join = fn.append_basic_block("lk.join")
        b.cbranch(allsame, one, many)
        ob = ir.IRBuilder(one)
        p0 = ob.call(self.lookup, [self.frame, h0, sizep, lop])
        s0 = ob.load(sizep, typ=I64)
        l0 = ob.load(lop, typ=I64)
        pv1 = self.splat(ob, ob.ptrtoint(p0, I64))
        sv1 = self.splat(ob, s0)
        lv1 = self.splat(ob, l0)
        ob.branch(join)
        mb = ir.IRBuilder(many)
        pv2, sv2, lv2 = (ir.Constant(self.VI64, [0] * self.W),) * 3
        for k in range(self.W):
            idx = ir.Constant(I32, k)
            hk = mb.extract_element(h, idx)
            p = mb.call(self.lookup, [self.frame, hk, sizep, lop])
            pv2 = mb.insert_element(pv2, mb.ptrtoint(p, I64), idx)
            sv2 = mb.insert_element(sv2, mb.load(sizep, typ=I64), idx)
            lv2 = mb.insert_element(lv2, mb.load(lop, typ=I64), idx)
        mb.branch(join)
        b = ir.IRBuilder(join)
        pv, sv, lv = (b.phi(self.VI64) for _ in range(3))
        for phi, a1, a2 in ((pv, pv1, pv2), (sv, sv1, sv2), (lv, lv1, lv2)):
            phi.add_incoming(a1, one)
            phi.add_incoming(a2, many)
        st.b = b
        return self._access(st, pc, ins, h, off, pv, sv, lv, None)

    def _access(self, st, pc, ins, h, off, pv, sv, lv, base):
        """Check and perform an access: pv/sv/lv the buffers' addresses, sizes and window
        bases per lane; base: the buffer's pointer when it is the same for the whole launch."""
        fn = self.fn
        ty = ins.ty
        n = ty.bits // 8
        b = st.b
        IW = ir.IntType(self.W)
        invalid = b.icmp_unsigned("==", pv, self.cvec(I64, 0))
        self.fault(st, b.and_(invalid, st.mask), pc, F_INVALID_HANDLE, [h, 0])
        b = st.b
        rel = b.sub(off, lv)
        oob = b.or_(b.icmp_unsigned(">", rel, sv),
                    b.icmp_unsigned(">", self.cvec(I64, n), b.sub(sv, rel)))
        self.fault(st, b.and_(oob, st.mask), pc, F_OUT_OF_BOUNDS, [h, off, n, sv, 0])
        b = st.b
        mask = st.mask
        ET = ir.IntType(8 * n)
        VE = self.vec(ET)
        VP = self.vec(PTR)
        src = st.read(ins.src) if ins.variant == "STG" else None
        if base is not None:
            # every lane active and the offsets consecutive: one vector load/store
            rel0 = b.extract_element(rel, ir.Constant(I32, 0))
            want = b.add(self.splat(b, rel0), self.cvec_list(I64, [k * n for k in range(self.W)]))
            contig = b.and_(b.icmp_unsigned("==", b.bitcast(mask, IW), ir.Constant(IW, -1)),
                            b.icmp_unsigned("==", b.bitcast(b.icmp_unsigned("==", rel, want), IW),
                                            ir.Constant(IW, -1)))
            fast = fn.append_basic_block("mem.fast")
            slow = fn.append_basic_block("mem.slow")
            join = fn.append_basic_block("mem.join")
            b.cbranch(contig, fast, slow)
            fb = ir.IRBuilder(fast)
            ptr = fb.gep(base, [rel0], source_etype=I8)
            if ins.variant == "LDG":
                vfast = fb.load(ptr, typ=VE, align=1)
            else:
                fb.store(src if n == 8 else fb.trunc(src, VE), ptr, align=1)
            fb.branch(join)
            st.b = b = ir.IRBuilder(slow)
        # active lanes only: the others' addresses are never formed into an access
        addr = b.add(pv, b.select(mask, rel, self.cvec(I64, 0)))
        ptrs = b.inttoptr(addr, self.vec(PTR))
        if ins.variant == "LDG":
            gather = self.intrinsic(f"llvm.masked.gather.{self.vsuffix(VE)}.{self.vsuffix(VP)}",
                                    VE, [VP, self.VI1, VE])
            raw = b.call(gather, [ptrs, mask, ir.Constant(VE, [0] * self.W)])
            if base is not None:
                b.branch(join)
                jb = ir.IRBuilder(join)
                phi = jb.phi(VE)
                phi.add_incoming(vfast, fast)
                phi.add_incoming(raw, b.block)
                st.b = b = jb
                raw = phi
            if n == 8:
                val = raw
            elif ty.is_signed and not ty.is_float:
                val = b.sext(raw, self.VI64)
            else:
                val = b.zext(raw, self.VI64)
            st.set(ins.dst, val)
        else:
            data = src if n == 8 else b.trunc(src, VE)
            scatter = self.intrinsic(f"llvm.masked.scatter.{self.vsuffix(VE)}.{self.vsuffix(VP)}",
                                     ir.VoidType(), [VE, VP, self.VI1])
            b.call(scatter, [data, ptrs, mask])
            if base is not None:
                b.branch(join)
                st.b = ir.IRBuilder(join)

    # ---- control
    def _control(self, st, pc, ins):
        b = st.b
        v = ins.variant
        if v == "EXIT":
            return self.cvec(I32, DONE)
        nxt = self.cvec(I32, pc + 1 if pc + 1 < len(self.instrs) else DONE)
        if v == "BRA":
            tgt = self.cvec(I32, self.labels[ins.target])
            if ins.pred is None:
                return tgt
            p = st.readp(ins.pred)
            if ins.negate:
                return b.select(p, nxt, tgt)
            return b.select(p, tgt, nxt)
        if v == "LOOP":
            cnt = st.read(ins.count)
            taken = b.icmp_unsigned(">", cnt, self.cvec(I64, 0))
            st.set(ins.count, b.select(taken, b.sub(cnt, self.cvec(I64, 1)), cnt))
            return b.select(taken, self.cvec(I32, self.labels[ins.body]), nxt)
        raise NotCompilable(f"pc {pc}: {v}")


def _n_minus_1(block, n):
    """n - 1 computed at the end of `block` (before its terminator)."""
    b = ir.IRBuilder(block)
    b.position_before(block.terminator)
    return b.sub(n, ir.Constant(I64, 1))


class _ChunkState:
    """The registers and predicates of one chunk inside a segment: SSA values."""

    def __init__(self, gen: _Gen, b, i, entry):
        self.g = gen
        self.b = b
        self.i = i
        self.mask = entry
        self.faulted = ir.Constant(gen.VI1, [0] * gen.W)
        self.vals: Dict[int, ir.Value] = {}
        self.dirty: Dict[int, bool] = {}
        self.pvals: Dict[int, ir.Value] = {}
        self.pdirty: Dict[int, bool] = {}
        self.steps: Optional[ir.Value] = None
        # lookup out-parameters: allocas in the function's entry block
        eb = ir.IRBuilder(gen.fn.entry_basic_block)
        eb.position_at_start(gen.fn.entry_basic_block)
        self.sizep = eb.alloca(I64)
        self.lop = eb.alloca(I64)

    def step(self, pc):
        """max_steps: lanes that executed max_steps instructions fault here (StepLimitExceeded,
        as the VM checks before each instruction); the others count one more."""
        g = self.g
        if not g.count_steps:
            return
        b = self.b
        if self.steps is None:
            self.steps = b.load(g.row_ptr(b, g.steps_row, self.i), typ=g.VI64)
        limit = g.splat(b, g.max_steps)
        over = b.and_(b.icmp_unsigned(">=", self.steps, limit), self.mask)
        g.fault(self, over, pc, F_STEP_LIMIT, [limit])
        b = self.b
        self.steps = b.add(self.steps, b.zext(self.mask, g.VI64))

    def read(self, r):
        v = self.vals.get(r)
        if v is not None:
            return v
        g, b = self.g, self.b
        if r in g.row:
            v = b.load(g.row_ptr(b, g.row[r], self.i), typ=g.VI64)
        else:
            v = g.initial_value(b, r, g.lane_index(b, self.i))
            if v is None:          # only in unreachable code (the verifier proved the reads)
                v = g.cvec(I64, 0)
        self.vals[r] = v
        return v

    def operand(self, ins, field):
        f = ins.spec.field(field)
        v = getattr(ins, field)
        if isinstance(v, Imm):
            from ..vm import canonical
            return self.g.cvec(I64, canonical(ins.reg_type(f), v.value))
        return self.read(v)

    def set(self, r, v):
        self.vals[r] = v
        self.dirty[r] = True

    def readp(self, p):
        v = self.pvals.get(p)
        if v is not None:
            return v
        g, b = self.g, self.b
        raw = b.load(g.pred_ptr(b, p, self.i), typ=g.vec(I8))
        v = b.icmp_unsigned("==", raw, ir.Constant(g.vec(I8), [2] * g.W))
        self.pvals[p] = v
        return v

    def setp(self, p, v):
        self.pvals[p] = v
        self.pdirty[p] = True

    def flush(self, entry):
        """Store the written registers and predicates of the lanes that entered."""
        g, b = self.g, self.b
        for r in self.dirty:
            ptr = g.row_ptr(b, g.row[r], self.i)
            old = b.load(ptr, typ=g.VI64)
            b.store(b.select(entry, self.vals[r], old), ptr)
        if self.steps is not None:
            ptr = g.row_ptr(b, g.steps_row, self.i)
            old = b.load(ptr, typ=g.VI64)
            b.store(b.select(entry, self.steps, old), ptr)
        for p in self.pdirty:
            ptr = g.pred_ptr(b, p, self.i)
            VI8 = g.vec(I8)
            old = b.load(ptr, typ=VI8)
            new = b.add(b.zext(self.pvals[p], VI8), ir.Constant(VI8, [1] * g.W))
            b.store(b.select(entry, new, old), ptr)


def count_steps_ok(gen) -> bool:
    return gen.count_steps


def generate(program, param_types, block, width, count_steps: bool = False
             ) -> Tuple[ir.Module, _Gen]:
    """The module of a program's block function (raises NotCompilable); count_steps: the
    launches have max_steps (lanes count their instructions)."""
    gen = _Gen(program, param_types, block, width, count_steps)
    return gen.build(), gen
