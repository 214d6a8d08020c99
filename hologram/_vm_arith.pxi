# Part of hologram/_core.pyx (included): the element-wise loops the generated exec_op calls,
# reductions, compare and select, moves and conversions.
#
# The loops are templates: exec_op calls them with a constant opcode, operand kind and
# (mostly) shift, and setup.py forces `cdef inline` functions inline, so every call becomes
# a loop specialised for its instruction and type; a contiguous group (first >= 0) gets a loop
# the compiler can vectorize.

# hot: begin
cdef enum:   # operand kinds of the element-wise loops
    K_F32 = 0       # f32 values
    K_F64 = 1       # f64 values
    K_HALF = 2      # f16 / bf16, computed in f32 (the row's type picks which)
    K_BITS = 3      # a float's bit pattern (ABS, NEG)
    K_SIGNED = 4    # canonical signed integers
    K_UNSIGNED = 5  # canonical unsigned integers


cdef inline uint64_t binop_value(int op, int kind, int ty, int sh, uint64_t x,
                                 uint64_t y) noexcept nogil:
    if kind == K_F32:
        return hg_f32_bits(real_binop(op, hg_f32(x), hg_f32(y)))
    if kind == K_F64:
        return hg_f64_bits(real_binop(op, hg_f64(x), hg_f64(y)))
    if kind == K_HALF:
        return st_f(ty, real_binop(op, ld_f(ty, x), ld_f(ty, y)))
    return int_binop(op, x, y, kind == K_SIGNED, sh)


cdef inline void binop_rows(Ctx* c, Worker* w, const int64_t* ins, const int32_t* g, int n,
                            int64_t pc, int first, int op, int kind, int sh,
                            bint zero_faults) noexcept nogil:
    """d = a OP b over a group; zero_faults: a zero divisor faults its lane (integer
    DIV/REM)."""
    cdef int64_t L = c.L
    cdef int ty = <int>ins[C_TY], i, lane
    cdef uint64_t* d = w.regs + ins[C_DST] * L
    cdef const uint64_t* a = w.regs + ins[C_A] * L
    cdef const uint64_t* b = w.regs + ins[C_B] * L
    if zero_faults:
        for i in range(n):
            lane = g[i]
            if b[lane] == 0:
                fault(w, lane, pc, F_DIV_ZERO)
            else:
                d[lane] = binop_value(op, kind, ty, sh, a[lane], b[lane])
    elif first >= 0:
        for lane in range(first, first + n):
            d[lane] = binop_value(op, kind, ty, sh, a[lane], b[lane])
    else:
        for i in range(n):
            lane = g[i]
            d[lane] = binop_value(op, kind, ty, sh, a[lane], b[lane])
    write_tags(dst_tags(c, w, ins), <uint8_t>(ty + 1), g, n, first)


cdef inline uint64_t unop_value(int op, int kind, int ty, int sh, uint64_t x) noexcept nogil:
    if kind == K_F32:
        return hg_f32_bits(real_unop(op, hg_f32(x)))
    if kind == K_F64:
        return hg_f64_bits(real_unop(op, hg_f64(x)))
    if kind == K_HALF:
        return st_f(ty, real_unop(op, ld_f(ty, x)))
    if kind == K_BITS:
        return bits_unop(op, x, (<uint64_t>1) << (63 - sh))
    return int_unop(op, x, kind == K_SIGNED, sh)


cdef inline void unop_rows(Ctx* c, Worker* w, const int64_t* ins, const int32_t* g, int n,
                           int64_t pc, int first, int op, int kind, int sh) noexcept nogil:
    """d = OP(a) over a group."""
    cdef int64_t L = c.L
    cdef int ty = <int>ins[C_TY], i, lane
    cdef uint64_t* d = w.regs + ins[C_DST] * L
    cdef const uint64_t* a = w.regs + ins[C_A] * L
    if first >= 0:
        for lane in range(first, first + n):
            d[lane] = unop_value(op, kind, ty, sh, a[lane])
    else:
        for i in range(n):
            lane = g[i]
            d[lane] = unop_value(op, kind, ty, sh, a[lane])
    write_tags(dst_tags(c, w, ins), <uint8_t>(ty + 1), g, n, first)


cdef inline uint64_t ternop_value(int op, int kind, int ty, int sh, uint64_t x, uint64_t y,
                                  uint64_t z) noexcept nogil:
    if kind == K_F32:
        return hg_f32_bits(real_ternop(op, hg_f32(x), hg_f32(y), hg_f32(z)))
    if kind == K_F64:
        return hg_f64_bits(real_ternop(op, hg_f64(x), hg_f64(y), hg_f64(z)))
    if kind == K_HALF:
        return st_f(ty, real_ternop(op, ld_f(ty, x), ld_f(ty, y), ld_f(ty, z)))
    return int_ternop(op, x, y, z, kind == K_SIGNED, sh)


cdef inline void ternop_rows(Ctx* c, Worker* w, const int64_t* ins, const int32_t* g, int n,
                             int64_t pc, int first, int op, int kind, int sh) noexcept nogil:
    """d = OP(a, b, c) over a group."""
    cdef int64_t L = c.L
    cdef int ty = <int>ins[C_TY], i, lane
    cdef uint64_t* d = w.regs + ins[C_DST] * L
    cdef const uint64_t* a = w.regs + ins[C_A] * L
    cdef const uint64_t* b = w.regs + ins[C_B] * L
    cdef const uint64_t* e = w.regs + ins[C_C] * L
    if first >= 0:
        for lane in range(first, first + n):
            d[lane] = ternop_value(op, kind, ty, sh, a[lane], b[lane], e[lane])
    else:
        for i in range(n):
            lane = g[i]
            d[lane] = ternop_value(op, kind, ty, sh, a[lane], b[lane], e[lane])
    write_tags(dst_tags(c, w, ins), <uint8_t>(ty + 1), g, n, first)


cdef inline void exec_reduce(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                             int64_t pc, int first, int fop) noexcept nogil:
    """reduce.{add,min,max,mul}: fold registers r[B .. B+N-1] (contiguous slots) with the
    binary instruction fop (a constant)."""
    cdef int ty = <int>ins[C_TY], sh = <int>ins[C_SH], i, lane
    cdef int64_t L = c.L, k, count = ins[C_IMM], base = ins[C_A]
    cdef uint64_t acc, ident = <uint64_t>ins[C_B]      # the identity, computed at lowering
    for i in range(n):
        lane = g[i]
        acc = ident
        for k in range(count):
            acc = fold(fop, ty, acc, w.regs[(base + k) * L + lane], sh)
        w.regs[ins[C_DST] * L + lane] = acc
        w.tags[ins[C_DST] * L + lane] = <uint8_t>(ty + 1)


# ---- compare and select (ISA.md §5.4)

cdef inline uint32_t cond_table(int cc) noexcept nogil:
    """Bit k of the result is the condition's value when k = less + 2*equal + 4*unordered
    (exec_setcc has checked cc)."""
    if cc >= CC_LTU:
        cc = cc - CC_LTU + CC_LT
    if cc == CC_EQ:
        return 0b00000100          # equal
    if cc == CC_NE:
        return 0b11110011          # not equal (unordered included)
    if cc == CC_LT:
        return 0b00000010
    if cc == CC_LE:
        return 0b00000110
    if cc == CC_GT:
        return 0b00000001          # neither less nor equal, ordered
    if cc == CC_GE:
        return 0b00000101          # equal or greater, ordered
    return 0


ctypedef fused ordered:       # values setcc compares: floats (as double) or integer patterns
    double
    uint64_t


cdef inline bint compare(int cc, ordered x, ordered y) noexcept nogil:
    """x CC y for a constant cc in EQ..GE: ordered float comparisons are false on NaN, ne is
    true."""
    if cc == CC_EQ:
        return x == y
    if cc == CC_NE:
        return not (x == y)
    if cc == CC_LT:
        return x < y
    if cc == CC_LE:
        return x <= y
    if cc == CC_GT:
        return x > y
    if cc == CC_GE:
        return x >= y
    return 0


cdef inline void cmp_rows(int cc, int kind, uint8_t* pd, const uint64_t* ra, const uint64_t* rb,
                          uint64_t mask, uint64_t flip, int n) noexcept nogil:
    """pd = a CC b over contiguous lanes, for constant cc; kind K_F32, K_F64 or an integer kind
    (the signed/unsigned distinction and the width are in mask and flip). Inlined with cc
    constant, the loop is unswitched on kind by the compiler."""
    cdef int i
    for i in range(n):
        if kind == K_F32:
            pd[i] = 1 + compare(cc, <double>hg_f32(ra[i]), <double>hg_f32(rb[i]))
        elif kind == K_F64:
            pd[i] = 1 + compare(cc, hg_f64(ra[i]), hg_f64(rb[i]))
        else:
            pd[i] = 1 + compare(cc, (ra[i] & mask) ^ flip, (rb[i] & mask) ^ flip)


cdef inline void cmp_rows_cc(int cc, int kind, uint8_t* pd, const uint64_t* ra,
                             const uint64_t* rb, uint64_t mask, uint64_t flip, int n) noexcept nogil:
    """cmp_rows with the condition as a constant (ltu..geu compare like lt..ge; exec_setcc has
    checked cc)."""
    if cc >= CC_LTU:
        cc = cc - CC_LTU + CC_LT
    if cc == CC_EQ:
        cmp_rows(CC_EQ, kind, pd, ra, rb, mask, flip, n)
    elif cc == CC_NE:
        cmp_rows(CC_NE, kind, pd, ra, rb, mask, flip, n)
    elif cc == CC_LT:
        cmp_rows(CC_LT, kind, pd, ra, rb, mask, flip, n)
    elif cc == CC_LE:
        cmp_rows(CC_LE, kind, pd, ra, rb, mask, flip, n)
    elif cc == CC_GT:
        cmp_rows(CC_GT, kind, pd, ra, rb, mask, flip, n)
    elif cc == CC_GE:
        cmp_rows(CC_GE, kind, pd, ra, rb, mask, flip, n)


cdef inline void exec_setcc(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                            int64_t pc, int first) noexcept nogil:
    """Branch-free: the condition is a truth table indexed by (less, equal, unordered)."""
    cdef int ty = <int>ins[C_TY], cc = <int>ins[C_TY2], sh = <int>ins[C_SH], i, lane
    cdef int64_t L = c.L
    cdef uint8_t* pd = w.preds + ins[C_DST] * L
    cdef const uint64_t* ra = w.regs + ins[C_A] * L
    cdef const uint64_t* rb = w.regs + ins[C_B] * L
    cdef uint64_t mask, flip, x, y
    cdef uint32_t table
    cdef double fx, fy
    if not (CC_EQ <= cc <= CC_GEU):
        vm_bug(w, ins, g, n, pc)
        return
    if ins[C_KREFILL]:
        refill_constant(c, w, ins)
    table = cond_table(cc)
    if ty <= T_U64:
        # Signed order = unsigned order with the sign bit flipped; ltu..geu and unsigned
        # types compare the w-bit patterns.
        mask = (<uint64_t>0xFFFFFFFFFFFFFFFF) >> sh if (cc >= CC_LTU or ty >= T_U8) else \
            <uint64_t>0xFFFFFFFFFFFFFFFF
        flip = (<uint64_t>1) << 63 if (ty <= T_I64 and cc < CC_LTU) else 0
        if n == L and ~mask == 0 and setcc_by_shape(w, ins, pd, L, flip, table):
            return
        if w.any_stale:
            fresh_rows(c, w, ins)
        if first >= 0:
            cmp_rows_cc(cc, K_SIGNED, pd + first, ra + first, rb + first, mask, flip, n)
            return
        for i in range(n):
            lane = g[i]
            x = (ra[lane] & mask) ^ flip
            y = (rb[lane] & mask) ^ flip
            pd[lane] = 1 + ((table >> ((x < y) + 2 * (x == y))) & 1)
        return
    if w.any_stale:
        fresh_rows(c, w, ins)
    if (ty == T_F32 or ty == T_F64) and first >= 0:
        if ty == T_F64:
            cmp_rows_cc(cc, K_F64, pd + first, ra + first, rb + first, 0, 0, n)
        else:
            cmp_rows_cc(cc, K_F32, pd + first, ra + first, rb + first, 0, 0, n)
        return
    for i in range(n):
        lane = g[i]
        if ty == T_F64:
            fx = hg_f64(ra[lane])
            fy = hg_f64(rb[lane])
        else:
            fx = ld_f(ty, ra[lane])
            fy = ld_f(ty, rb[lane])
        pd[lane] = 1 + ((table >> ((fx < fy) + 2 * (fx == fy) + 4 * (fx != fx or fy != fy))) & 1)


cdef inline void sel_rows(uint64_t* d, const uint8_t* p, const uint64_t* a, const uint64_t* b,
                          const int32_t* g, int n, int first) noexcept nogil:
    cdef int i, lane
    cdef uint64_t m
    if first >= 0:      # branch-free: lanes' predicates are unpredictable
        for lane in range(first, first + n):
            m = <uint64_t>0 - <uint64_t>(p[lane] == 2)
            d[lane] = b[lane] ^ ((a[lane] ^ b[lane]) & m)
    else:
        for i in range(n):
            lane = g[i]
            m = <uint64_t>0 - <uint64_t>(p[lane] == 2)
            d[lane] = b[lane] ^ ((a[lane] ^ b[lane]) & m)


cdef inline void exec_sel(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                          int64_t pc, int first) noexcept nogil:
    cdef int ty = <int>ins[C_TY], i, lane
    cdef int64_t L = c.L, src
    cdef uint8_t t, tag = <uint8_t>(ty + 1)
    if ins[C_TY2]:            # the verifier proved both sources: a plain select
        sel_rows(w.regs + ins[C_DST] * L, w.preds + ins[C_A] * L, w.regs + ins[C_B] * L,
                 w.regs + ins[C_C] * L, g, n, first)
        write_tags(dst_tags(c, w, ins), tag, g, n, first)
        return
    for i in range(n):        # the predicate was checked; read only the selected source
        lane = g[i]
        src = ins[C_B] if w.preds[ins[C_A] * L + lane] == 2 else ins[C_C]
        t = w.tags[src * L + lane]
        if t != tag:
            if t == 0:
                fault(w, lane, pc, F_UNINIT_REG, ins[C_IMM] if src == ins[C_B] else ins[C_PRED])
            else:
                fault(w, lane, pc, F_TYPE_MISMATCH,
                      ins[C_IMM] if src == ins[C_B] else ins[C_PRED], ty, t - 1)
            continue
        w.regs[ins[C_DST] * L + lane] = w.regs[src * L + lane]
        w.tags[ins[C_DST] * L + lane] = tag


# ---- predicate logic (ISA 1.1 §12.3)

cdef inline uint8_t pred_logic(int op, uint8_t a, uint8_t b) noexcept nogil:
    """PAND/POR/PXOR/PNOT of predicates held as 1 (false) or 2 (true), for a constant op."""
    if op == OP_PAND:
        return 1 + ((a == 2) & (b == 2))
    if op == OP_POR:
        return 1 + ((a == 2) | (b == 2))
    if op == OP_PXOR:
        return 1 + ((a == 2) ^ (b == 2))
    return 1 + (a != 2)                    # PNOT


cdef inline void pred_rows(int op, Ctx* c, Worker* w, const int64_t* ins, const int32_t* g,
                           int n, int first) noexcept nogil:
    cdef int64_t L = c.L
    cdef uint8_t* pd = w.preds + ins[C_DST] * L
    cdef const uint8_t* pa = w.preds + ins[C_A] * L
    cdef const uint8_t* pb = w.preds + ins[C_B] * L     # PNOT: p0's row, never used
    cdef int i, lane
    if first >= 0:
        for lane in range(first, first + n):
            pd[lane] = pred_logic(op, pa[lane], pb[lane])
    else:
        for i in range(n):
            lane = g[i]
            pd[lane] = pred_logic(op, pa[lane], pb[lane])


cdef void exec_predicate(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n, int64_t pc,
                         int first) noexcept nogil:
    """The `predicate` family: both sources were read (checked) in order; then pD is written."""
    cdef int op = <int>ins[C_OP]
    if op == OP_PAND:
        pred_rows(OP_PAND, c, w, ins, g, n, first)
    elif op == OP_POR:
        pred_rows(OP_POR, c, w, ins, g, n, first)
    elif op == OP_PXOR:
        pred_rows(OP_PXOR, c, w, ins, g, n, first)
    elif op == OP_PNOT:
        pred_rows(OP_PNOT, c, w, ins, g, n, first)
    else:
        vm_bug(w, ins, g, n, pc)


# ---- moves and conversion (ISA.md §5.1, §5.5)

cdef inline void exec_mov(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                          int64_t pc, int first) noexcept nogil:
    cdef int i, lane
    cdef int64_t L = c.L
    cdef uint64_t* d = w.regs + ins[C_DST] * L
    cdef const uint64_t* a = w.regs + ins[C_A] * L
    if first >= 0:
        if d != a:
            memcpy(d + first, a + first, 8 * n)
    else:
        for i in range(n):
            lane = g[i]
            d[lane] = a[lane]
    write_tags(dst_tags(c, w, ins), <uint8_t>(ins[C_TY] + 1), g, n, first)


cdef inline void exec_mov_imm(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                              int64_t pc, int first) noexcept nogil:
    """The immediate was canonicalised at lowering."""
    cdef int i, lane
    cdef uint64_t* d = w.regs + ins[C_DST] * c.L
    cdef uint64_t v = <uint64_t>ins[C_IMM]
    if first >= 0:
        for lane in range(first, first + n):
            d[lane] = v
    else:
        for i in range(n):
            d[g[i]] = v
    write_tags(dst_tags(c, w, ins), <uint8_t>(ins[C_TY] + 1), g, n, first)


cdef inline void exec_cvt(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                          int64_t pc, int first) noexcept nogil:
    cdef int ty = <int>ins[C_TY], dty = <int>ins[C_TY2], dsh = <int>ins[C_SH2], i, lane
    cdef int64_t L = c.L
    cdef uint64_t* d = w.regs + ins[C_DST] * L
    cdef uint8_t* dt = w.tags + ins[C_DST] * L
    cdef const uint64_t* a = w.regs + ins[C_A] * L
    for i in range(n):
        lane = g[i]
        d[lane] = convert(a[lane], ty, dty, dsh)
        dt[lane] = <uint8_t>(dty + 1)


cdef inline uint64_t sreg_value(Ctx* c, Worker* w, int64_t sreg, int lane) noexcept nogil:
    """The special register sreg (SR_*) of a lane (exec_mov_sreg has checked sreg)."""
    if sreg == SR_LANE_X:
        return <uint64_t>(lane % c.Bx)
    if sreg == SR_LANE_Y:
        return <uint64_t>((lane / c.Bx) % c.By)
    if sreg == SR_LANE_Z:
        return <uint64_t>(lane / (c.Bx * c.By))
    if sreg == SR_BLOCK_X:
        return <uint64_t>w.bx
    if sreg == SR_BLOCK_Y:
        return <uint64_t>w.by
    if sreg == SR_BLOCK_Z:
        return <uint64_t>w.bz
    if sreg == SR_BLOCK_DIM_X:
        return <uint64_t>c.Bx
    if sreg == SR_BLOCK_DIM_Y:
        return <uint64_t>c.By
    if sreg == SR_BLOCK_DIM_Z:
        return <uint64_t>c.Bz
    if sreg == SR_GRID_DIM_X:
        return <uint64_t>c.gx
    if sreg == SR_GRID_DIM_Y:
        return <uint64_t>c.gy
    if sreg == SR_GRID_DIM_Z:
        return <uint64_t>c.gz
    if sreg == SR_GLOBAL_ID:
        return <uint64_t>(w.base_gid + lane)
    if sreg == SR_LANE_ID:                  # ISA 1.1 §12.4: warps of 32 consecutive lanes
        return <uint64_t>(lane % WARP_SIZE)
    if sreg == SR_WARP_ID:
        return <uint64_t>(lane / WARP_SIZE)
    return 0


cdef inline void exec_mov_sreg(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                               int64_t pc, int first) noexcept nogil:
    cdef int i, lane
    cdef int64_t L = c.L, sreg = ins[C_TY2]
    cdef uint64_t* d = w.regs + ins[C_DST] * L
    cdef uint8_t* dt = w.tags + ins[C_DST] * L
    cdef uint8_t tag = T_U64 + 1 if sreg == SR_GLOBAL_ID else T_U32 + 1
    if not (SR_LANE_X <= sreg <= SR_WARP_ID):
        vm_bug(w, ins, g, n, pc)
        return
    for i in range(n):
        lane = g[i]
        d[lane] = sreg_value(c, w, sreg, lane)
        dt[lane] = tag
# hot: end
