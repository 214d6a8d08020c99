# Part of hologram/_core.pyx (included): register shapes. Within a block, a register row
# often holds base + stride * lane for every lane (lane and global ids, addresses computed
# from them, uniform values); Worker.shp_* records that shape. Memory instructions use shapes
# to check a whole group's accesses at once (_vm_memory.pxi), a 64-bit setcc of such a row
# becomes a few memsets, and the result of a whole-block instruction with the `lazy` flag whose
# shape is known is not written at all until something reads the row (fresh_rows).
#
# derive_shape states the effect of each instruction on shapes; an instruction it does not
# list gives "no shape" (the row is then computed as usual), so a missing rule is never wrong.

# hot: begin
cdef inline void set_shape(Worker* w, int64_t s, uint64_t base, uint64_t stride) noexcept nogil:
    w.shp_ok[s] = 1
    w.shp_base[s] = base
    w.shp_stride[s] = stride


cdef void init_shapes(Ctx* c, Worker* w) noexcept nogil:
    """The shapes of the registers at block start: what init_registers wrote."""
    cdef int64_t k, s
    memset(w.shp_ok, 0, c.nslots)
    memset(w.stale, 0, c.nslots)
    w.any_stale = 0
    for k in range(4):            # r252 lane.x, r253 block.x, r254 block dim x, r255 gid
        s = c.sreg_slot[k]
        if s < 0 or c.init_once[s] & 2:     # never named, or overwritten by a parameter
            continue
        if k == 0 and c.Bx == c.L:
            set_shape(w, s, 0, 1)
        elif k == 1:
            set_shape(w, s, <uint64_t>w.bx, 0)
        elif k == 2:
            set_shape(w, s, <uint64_t>c.Bx, 0)
        elif k == 3:
            set_shape(w, s, <uint64_t>w.base_gid, 1)
            w.stale[s] = 1
            w.any_stale = 1
    for k in range(c.ninit):
        set_shape(w, c.init_slot[k], c.init_val[k], 0)


cdef inline bint derive_shape(Ctx* c, Worker* w, const int64_t* ins, uint64_t* base,
                              uint64_t* stride) noexcept nogil:
    """The shape of the register a whole-block instruction writes, from its sources' shapes
    (before it runs); 0 if it is not affine in the lane. Only exact 64-bit arithmetic is
    followed: it is linear mod 2^64, unlike a 32-bit result's canonical extension."""
    cdef int op = <int>ins[C_OP]
    cdef int64_t a = ins[C_A], b = ins[C_B], sreg
    cdef uint64_t k
    if op == OP_MOV_IMM:
        base[0] = <uint64_t>ins[C_IMM]
        stride[0] = 0
        return 1
    if op == OP_MOV:
        base[0] = w.shp_base[a]
        stride[0] = w.shp_stride[a]
        return w.shp_ok[a]
    if op == OP_CVT:                     # between 64-bit integer types: the same bits
        base[0] = w.shp_base[a]
        stride[0] = w.shp_stride[a]
        return w.shp_ok[a] and (ins[C_TY] == T_I64 or ins[C_TY] == T_U64) and \
            (ins[C_TY2] == T_I64 or ins[C_TY2] == T_U64)
    if op == OP_MOV_SREG:
        sreg = ins[C_TY2]
        stride[0] = 0
        if sreg == SR_GLOBAL_ID:
            base[0] = <uint64_t>w.base_gid
            stride[0] = 1
        elif sreg == SR_LANE_X and c.Bx == c.L:
            base[0] = 0
            stride[0] = 1
        elif SR_BLOCK_X <= sreg <= SR_GRID_DIM_Z:          # the same in every lane
            base[0] = sreg_value(c, w, sreg, 0)
        elif sreg == SR_LANE_ID and c.L <= WARP_SIZE:     # one warp: the lane index
            base[0] = 0
            stride[0] = 1
        elif sreg == SR_WARP_ID and c.L <= WARP_SIZE:     # one warp: 0
            base[0] = 0
        else:
            return 0
        return 1
    if op != OP_ADD and op != OP_SUB and op != OP_MUL and op != OP_SHL:
        return 0
    if ins[C_SH] != 0 or ins[C_TY] > T_U64 or not (w.shp_ok[a] and w.shp_ok[b]):
        return 0
    if op == OP_ADD:
        base[0] = w.shp_base[a] + w.shp_base[b]
        stride[0] = w.shp_stride[a] + w.shp_stride[b]
    elif op == OP_SUB:
        base[0] = w.shp_base[a] - w.shp_base[b]
        stride[0] = w.shp_stride[a] - w.shp_stride[b]
    elif op == OP_MUL and (w.shp_stride[a] == 0 or w.shp_stride[b] == 0):
        base[0] = w.shp_base[a] * w.shp_base[b]
        stride[0] = w.shp_stride[a] * w.shp_base[b] + w.shp_base[a] * w.shp_stride[b]
    elif op == OP_SHL and w.shp_stride[b] == 0:
        k = w.shp_base[b] & 63
        base[0] = w.shp_base[a] << k
        stride[0] = w.shp_stride[a] << k
    else:
        return 0
    return 1


cdef inline bint update_shape(Ctx* c, Worker* w, const int64_t* ins, int n) noexcept nogil:
    """Before an instruction runs: the new shape of the register it writes (1 if affine).
    Memory instructions read shapes but never give an affine result, so this may precede
    them."""
    cdef int64_t d = ins[C_WREG]
    cdef uint64_t base, stride
    if n == c.L and derive_shape(c, w, ins, &base, &stride):
        set_shape(w, d, base, stride)
        return 1
    w.shp_ok[d] = 0
    return 0


cdef inline void fill_affine(uint64_t* r, uint64_t base, uint64_t stride, int64_t L) noexcept nogil:
    """r[lane] = base + stride * lane, by doubling: each pass adds an offset to the lanes
    already written, a plain vectorized loop. (GCC 12.2 -O3 miscompiled a loop with four
    interleaved induction variables here.)"""
    cdef int64_t done = 1, m, i
    r[0] = base
    while done < L:
        m = done if done < L - done else L - done
        for i in range(m):
            r[done + i] = r[i] + stride * <uint64_t>done
        done += m


cdef inline void fresh_row(Ctx* c, Worker* w, int64_t s) noexcept nogil:
    # The shape of a stale row is intact even after update_shape cleared shp_ok (it keeps
    # base and stride); a shape it replaced belongs to a whole-block write that overwrites
    # every lane, so filling from it first is harmless.
    if w.stale[s]:
        fill_affine(w.regs + s * c.L, w.shp_base[s], w.shp_stride[s], c.L)
        w.stale[s] = 0


cdef void fresh_rows(Ctx* c, Worker* w, const int64_t* ins) noexcept nogil:
    """Write the stale rows an instruction reads, and the row it writes (some lanes may keep
    their old values), before it runs."""
    cdef int64_t k
    cdef const int32_t* rd = c.checks + 4 * ins[C_RD0]
    for k in range(ins[C_RDN]):
        fresh_row(c, w, rd[4 * k + 1])
    if ins[C_WREG] >= 0:
        fresh_row(c, w, ins[C_WREG])


cdef inline uint64_t ceil_div(uint64_t a, uint64_t b) noexcept nogil:
    return a / b + (a % b != 0)


cdef bint setcc_by_shape(Worker* w, const int64_t* ins, uint8_t* pd, int64_t L, uint64_t flip,
                         uint32_t table) noexcept nogil:
    """A whole-block 64-bit integer setcc of a register affine in the lane against a uniform
    one (e.g. `setgeu gid, n`): the lanes split into at most three runs (less, equal,
    greater), found by a division and written by memset. 0 if the shapes do not allow it."""
    cdef int64_t a = ins[C_A], b = ins[C_B], s, k, e
    cdef uint64_t x0, y, span, d, abss
    cdef bint swap
    cdef uint8_t v_lt, v_eq, v_gt
    if not (w.shp_ok[a] and w.shp_ok[b]):
        return 0
    swap = w.shp_stride[b] != 0            # X = the affine side, Y = the uniform one
    if swap:
        a, b = b, a
    if w.shp_stride[b] != 0:
        return 0
    s = <int64_t>w.shp_stride[a]
    if s > (<int64_t>1 << 32) or s < -(<int64_t>1 << 32):
        return 0
    # Signed order is unsigned order with the sign bit flipped: x ^ 2^63 == x + 2^63.
    x0 = w.shp_base[a] + flip
    y = w.shp_base[b] + flip
    abss = <uint64_t>(s if s >= 0 else -s)
    span = abss * <uint64_t>(L - 1)
    if (s >= 0 and x0 + span < x0) or (s < 0 and x0 < span):
        return 0                          # X wraps around 2^64 inside the block
    # Truth-table index (less + 2 * equal) of each run, for the original operand order.
    v_lt = 1 + ((table >> (0 if swap else 1)) & 1)
    v_eq = 1 + ((table >> 2) & 1)
    v_gt = 1 + ((table >> (1 if swap else 0)) & 1)
    if s == 0:
        memset(pd, v_lt if x0 < y else (v_eq if x0 == y else v_gt), L)
        return 1
    if s < 0:                             # decreasing: greater, equal, less
        v_lt, v_gt = v_gt, v_lt
        d = x0 - y if x0 > y else 0
        e = x0 >= y and (x0 - y) % abss == 0
    else:                                 # increasing: less, equal, greater
        d = y - x0 if y > x0 else 0
        e = y >= x0 and (y - x0) % abss == 0
    k = <int64_t>ceil_div(d, abss) if ceil_div(d, abss) < <uint64_t>L else L
    if k >= L:
        e = 0
    memset(pd, v_lt, k)
    if e:
        pd[k] = v_eq
        k += 1
    memset(pd + k, v_gt, L - k)
    return 1
# hot: end
