# Part of hologram/_core.pyx (included): memory access (ISA.md §4). A global access finds its
# buffer (lookup: handle 0, the class windows, the sorted handle table; a small per-thread
# cache in front), checks its bounds and moves the bytes. LDG/STG of a group take the first
# path that applies: addresses known from register shapes (memory_affine, O(1) checks), one
# buffer for the whole group in bounds (memory_unchecked), else lane by lane (exec_memory).
# A buffer may be a *window* of a larger virtual buffer: it holds bytes [lo, lo + size), so an
# offset o is byte o - lo of its memory (with unsigned arithmetic an offset below lo wraps to a
# huge value, which the size check rejects); plain buffers have lo = 0.

# hot: begin
cdef inline uint8_t* lookup(Ctx* c, uint64_t h, uint64_t* size, uint64_t* wlo) noexcept nogil:
    """First byte, size and window base of buffer h (handle 0, class windows, the sorted
    handle table), or NULL if the handle is unknown."""
    cdef int64_t lo, hi, mid
    wlo[0] = 0
    if h == 0:
        size[0] = BOUNDARY_BYTES
        return c.boundary
    if h >= CLASS_HANDLE_BASE:
        size[0] = CLASS_BYTES
        return c.boundary + (h - CLASS_HANDLE_BASE) * CLASS_BYTES
    lo = 0
    hi = c.nbufs - 1
    while lo <= hi:
        mid = (lo + hi) >> 1
        if c.buf_handle[mid] == h:
            size[0] = c.buf_size[mid]
            wlo[0] = c.buf_lo[mid]
            return c.buf_ptr[mid] if c.buf_ptr[mid] != NULL else c.boundary   # empty buffer
        if c.buf_handle[mid] < h:
            lo = mid + 1
        else:
            hi = mid - 1
    return NULL


cdef inline uint8_t* cached_lookup(Ctx* c, Worker* w, uint64_t h, uint64_t* size,
                                   uint64_t* wlo) noexcept nogil:
    """lookup() through a small per-thread cache (the handle table is fixed during a launch):
    a loop touching a few buffers skips the binary search."""
    cdef int k = <int>((h ^ (h >> 7)) & (LOOKUP_CACHE - 1))
    cdef uint8_t* base
    if w.lk_base[k] != NULL and w.lk_handle[k] == h:
        size[0] = w.lk_size[k]
        wlo[0] = w.lk_lo[k]
        return w.lk_base[k]
    base = lookup(c, h, size, wlo)
    if base != NULL:
        w.lk_handle[k] = h
        w.lk_base[k] = base
        w.lk_size[k] = size[0]
        w.lk_lo[k] = wlo[0]
    return base


cdef inline uint8_t* global_ptr(Ctx* c, Worker* w, int lane, int64_t pc, uint64_t h,
                                uint64_t off, int n, bint atomic, uint64_t* size,
                                uint64_t* wlo) noexcept nogil:
    """Address of an n-byte global access, or NULL after faulting the lane (ISA.md §4.7);
    *size and *wlo receive the buffer's size and window base. The fault reports the offset
    the lane used (a window's fault message is completed in Python)."""
    cdef uint8_t* base = cached_lookup(c, w, h, size, wlo)
    cdef uint64_t rel = off - wlo[0]
    if base == NULL:
        fault(w, lane, pc, F_INVALID_HANDLE, <int64_t>h, 0)
        return NULL
    if rel > size[0] or <uint64_t>n > size[0] - rel:
        fault(w, lane, pc, F_OUT_OF_BOUNDS, <int64_t>h, <int64_t>off, n, <int64_t>size[0], 0)
        return NULL
    if atomic and off % <uint64_t>n:    # windows are placed so that o and o - lo align alike
        fault(w, lane, pc, F_MISALIGNED, <int64_t>h, <int64_t>off, n)
        return NULL
    return base + rel


cdef inline uint8_t* shared_ptr(Ctx* c, Worker* w, int lane, int64_t pc, uint64_t off, int n,
                                bint atomic) noexcept nogil:
    cdef uint64_t size = <uint64_t>c.shared_size
    if off > size or <uint64_t>n > size - off:
        fault(w, lane, pc, F_SHARED_OUT_OF_BOUNDS, <int64_t>off, n, <int64_t>size)
        return NULL
    if atomic and off % <uint64_t>n:
        fault(w, lane, pc, F_MISALIGNED, -1, <int64_t>off, n)
        return NULL
    return w.shared + off


cdef inline uint64_t computed_offset(const int64_t* ins, uint64_t o) noexcept nogil:
    """The offset of [rH + rO*S ± D] for rO = o: (o << log2 S) + D mod 2^64."""
    return (o << ins[C_ASH]) + <uint64_t>ins[C_ADISP]


cdef struct AddrMode:
    # An instruction's address, read from its row once per group (lane loops then keep it in
    # registers: the row could alias the stores of the loop for the compiler).
    int64_t mode                 # AM_*
    const uint64_t* hreg         # AM_REG_*: the handle (base) register's row
    const uint64_t* oreg         # AM_REG_REG: the offset register's row
    uint64_t h                   # AM_IMM: the handle
    uint64_t disp                # AM_IMM: the offset; AM_REG_IMM, AM_REG_REG: the displacement
    uint64_t ash                 # AM_REG_REG: log2 of the scale


cdef inline void address_mode(Ctx* c, Worker* w, const int64_t* ins, AddrMode* a) noexcept nogil:
    a.mode = ins[C_AMODE]
    a.hreg = a.oreg = NULL
    a.h = <uint64_t>ins[C_AX]
    a.disp = <uint64_t>ins[C_AY]         # a negative i32 wraps to a huge (out of bounds) offset
    a.ash = <uint64_t>ins[C_ASH]
    if a.mode != AM_IMM:
        a.hreg = w.regs + ins[C_AX] * c.L
    if a.mode == AM_REG_REG:
        a.oreg = w.regs + ins[C_AY] * c.L
        a.disp = <uint64_t>ins[C_ADISP]


cdef inline void lane_address(const AddrMode* a, int lane, uint64_t* h, uint64_t* off,
                              bint shared) noexcept nogil:
    if a.mode == AM_IMM:
        h[0] = a.h
        off[0] = a.disp
    elif a.mode == AM_REG_IMM:
        h[0] = a.hreg[lane]
        off[0] = a.disp
        if shared:                           # ISA 1.1 §12.2.3: shared [rB ± D] is rB ± D
            off[0] += h[0]
    else:                                    # [rH + rO*S ± D] (§12.2.1), mod 2^64
        h[0] = a.hreg[lane]
        off[0] = (a.oreg[lane] << a.ash) + a.disp


cdef inline uint64_t load_value(const uint8_t* p, int n, int ty) noexcept nogil:
    """Read n bytes (little-endian host) as register content: signed types sign-extended."""
    cdef uint8_t b1
    cdef uint16_t b2
    cdef uint32_t b4
    cdef uint64_t v
    if n == 4:
        memcpy(&b4, p, 4)
        return <uint64_t><int64_t><int32_t>b4 if ty == T_I32 else b4
    if n == 8:
        memcpy(&v, p, 8)
        return v
    if n == 2:
        memcpy(&b2, p, 2)
        return <uint64_t><int64_t><int16_t>b2 if ty == T_I16 else b2
    b1 = p[0]
    return <uint64_t><int64_t><int8_t>b1 if ty == T_I8 else b1


cdef inline void store_value(uint8_t* p, int n, uint64_t v) noexcept nogil:
    cdef uint32_t b4
    cdef uint16_t b2
    if n == 4:
        b4 = <uint32_t>v
        memcpy(p, &b4, 4)
    elif n == 8:
        memcpy(p, &v, 8)
    elif n == 2:
        b2 = <uint16_t>v
        memcpy(p, &b2, 2)
    else:
        p[0] = <uint8_t>v


cdef inline uint8_t* access(Ctx* c, Worker* w, const AddrMode* a, int lane, int64_t pc, int nb,
                            bint shared, uint64_t* last_h, uint8_t** last_base,
                            uint64_t* last_size, uint64_t* last_lo) noexcept nogil:
    """Address of lane's n-byte access for LDG/STG/LDS/STS, or NULL after faulting it.

    Consecutive lanes usually use the same handle: the last one looked up is remembered."""
    cdef uint64_t h, off, size, wlo, rel
    cdef uint8_t* p
    lane_address(a, lane, &h, &off, shared)
    if shared:
        return shared_ptr(c, w, lane, pc, off, nb, 0)
    rel = off - last_lo[0]
    if last_base[0] != NULL and h == last_h[0] and rel <= last_size[0] and \
            <uint64_t>nb <= last_size[0] - rel:
        return last_base[0] + rel
    p = global_ptr(c, w, lane, pc, h, off, nb, 0, &size, &wlo)
    if p != NULL:
        last_h[0] = h
        last_base[0] = p - (off - wlo)
        last_size[0] = size
        last_lo[0] = wlo
    return p


cdef inline bint group_in_bounds(Ctx* c, Worker* w, const int64_t* ins, const int32_t* g, int n,
                                 int nb, uint8_t** base, uint64_t* wlo) noexcept nogil:
    """True if every lane of the group accesses the same known buffer in bounds; then *base
    is its first byte and *wlo its window base. One pass over the group replaces a lookup and
    a check per lane."""
    cdef int64_t L = c.L, mode = ins[C_AMODE], disp
    cdef uint64_t h, lo, hi, off, size, ash
    cdef const uint64_t* hreg
    cdef const uint64_t* oreg
    cdef int i
    if mode == AM_IMM:
        h = <uint64_t>ins[C_AX]
        lo = hi = <uint64_t>ins[C_AY]
    else:
        hreg = w.regs + ins[C_AX] * L
        h = hreg[g[0]]
        for i in range(1, n):
            if hreg[g[i]] != h:
                return 0
        if mode == AM_REG_IMM:
            lo = hi = <uint64_t>ins[C_AY]
        else:
            oreg = w.regs + ins[C_AY] * L
            lo = hi = oreg[g[0]]
            for i in range(1, n):
                off = oreg[g[i]]
                lo = off if off < lo else lo
                hi = off if off > hi else hi
            # The offsets (rO << log2 S) + D grow with rO unless they wrap around 2^64: then
            # the group takes the checked path (where such offsets are out of bounds anyway).
            ash = <uint64_t>ins[C_ASH]
            disp = ins[C_ADISP]
            if (hi << ash) >> ash != hi:
                return 0
            lo <<= ash
            hi <<= ash
            if (disp >= 0 and hi + <uint64_t>disp < hi) or (disp < 0 and lo < <uint64_t>(-disp)):
                return 0
            lo += <uint64_t>disp
            hi += <uint64_t>disp
    base[0] = cached_lookup(c, w, h, &size, wlo)
    if lo < wlo[0]:
        return 0
    hi -= wlo[0]
    return base[0] != NULL and hi <= size and <uint64_t>nb <= size - hi


cdef inline void unchecked_rows(int op, int ty, int nb, uint64_t* rv, uint8_t* base,
                                const uint64_t* oreg, uint64_t ash, uint64_t disp,
                                const int32_t* g, int n, int first, bint scaled) noexcept nogil:
    """memory_unchecked's loops for [rH + rO*S ± D]; `scaled` (a constant) is 0 when S = 1 and
    D = 0 and the buffer is not a window (the offset is rO itself, as in ISA 1.0); a window's
    base is folded into disp."""
    cdef int i, lane
    cdef uint32_t b4
    if not scaled:
        ash = 0
        disp = 0
    if op == OP_LDG:
        if nb == 4 and ty != T_I32 and first >= 0:
            for lane in range(first, first + n):
                memcpy(&b4, base + ((oreg[lane] << ash) + disp), 4)
                rv[lane] = b4
        elif nb == 4 and ty != T_I32:
            for i in range(n):
                lane = g[i]
                memcpy(&b4, base + ((oreg[lane] << ash) + disp), 4)
                rv[lane] = b4
        elif nb == 8:
            for i in range(n):
                lane = g[i]
                memcpy(&rv[lane], base + ((oreg[lane] << ash) + disp), 8)
        else:
            for i in range(n):
                lane = g[i]
                rv[lane] = load_value(base + ((oreg[lane] << ash) + disp), nb, ty)
    elif nb == 4 and first >= 0:
        for lane in range(first, first + n):
            b4 = <uint32_t>rv[lane]
            memcpy(base + ((oreg[lane] << ash) + disp), &b4, 4)
    elif nb == 4:
        for i in range(n):
            lane = g[i]
            b4 = <uint32_t>rv[lane]
            memcpy(base + ((oreg[lane] << ash) + disp), &b4, 4)
    elif nb == 8:
        for i in range(n):
            lane = g[i]
            memcpy(base + ((oreg[lane] << ash) + disp), &rv[lane], 8)
    else:
        for i in range(n):
            lane = g[i]
            store_value(base + ((oreg[lane] << ash) + disp), nb, rv[lane])


cdef void memory_unchecked(Ctx* c, Worker* w, const int64_t* ins, const int32_t* g, int n,
                           int nb, uint8_t* base, uint64_t wlo, int first) noexcept nogil:
    """LDG/STG for a group already known to be in bounds: plain loads and stores (offset o
    is byte o - wlo of base)."""
    cdef int64_t L = c.L, mode = ins[C_AMODE]
    cdef uint64_t v
    cdef int op = <int>ins[C_OP], ty = <int>ins[C_TY], i
    cdef uint64_t* rv = w.regs + (ins[C_DST] if op == OP_LDG else ins[C_A]) * L
    cdef uint64_t ash = <uint64_t>ins[C_ASH], disp = <uint64_t>ins[C_ADISP]
    if mode != AM_REG_REG:           # one address for the whole group
        if op == OP_LDG:
            v = load_value(base + (<uint64_t>ins[C_AY] - wlo), nb, ty)
            for i in range(n):
                rv[g[i]] = v
        else:                        # every lane stores in turn: the highest lane's value stays
            store_value(base + (<uint64_t>ins[C_AY] - wlo), nb, rv[g[n - 1]])
    elif ash == 0 and disp == 0 and wlo == 0:
        unchecked_rows(op, ty, nb, rv, base, w.regs + ins[C_AY] * L, 0, 0, g, n, first, 0)
    else:                            # (rO << ash) + disp - wlo, wrapping like the offsets
        unchecked_rows(op, ty, nb, rv, base, w.regs + ins[C_AY] * L, ash, disp - wlo, g, n,
                       first, 1)
    if op == OP_LDG:
        write_tags(dst_tags(c, w, ins), <uint8_t>(ty + 1), g, n, first)


cdef inline bint affine_access(Ctx* c, Worker* w, const int64_t* ins, const int32_t* g, int n,
                               int nb, uint8_t** first_p, int64_t* stride) noexcept nogil:
    """True if the group's global addresses are known from register shapes (one handle, an
    offset affine in the lane) and all in bounds: then lane g[i]'s access starts at
    *first_p + *stride * (g[i] - g[0]). O(1) instead of a pass over the group."""
    cdef int64_t hs = ins[C_AX], os, s, l0 = g[0]
    cdef uint64_t ob, lo, hi, span, size, first_off, wlo
    cdef uint8_t* base
    if not w.shp_ok[hs] or w.shp_stride[hs] != 0:
        return 0
    if ins[C_AMODE] == AM_REG_IMM:
        ob = <uint64_t>ins[C_AY]
        s = 0
    else:                 # offsets (base + stride * lane) * S + D: affine too
        os = ins[C_AY]
        if not w.shp_ok[os]:
            return 0
        ob = computed_offset(ins, w.shp_base[os])
        s = <int64_t>(w.shp_stride[os] << ins[C_ASH])
    if s > (<int64_t>1 << 32) or s < -(<int64_t>1 << 32):
        return 0
    # The group's offsets run from first_off (lane g[0]) to the offset of lane g[n-1]: a
    # span of |s| * (g[n-1] - g[0]) < 2^63 bytes that must not wrap around 2^64.
    first_off = ob + <uint64_t>s * <uint64_t>l0
    span = <uint64_t>(s if s >= 0 else -s) * <uint64_t>(g[n - 1] - l0)
    if s >= 0:
        lo = first_off
        hi = first_off + span
        if hi < lo:
            return 0
    else:
        if first_off < span:
            return 0
        lo = first_off - span
        hi = first_off
    base = cached_lookup(c, w, w.shp_base[hs], &size, &wlo)
    if base == NULL or lo < wlo:
        return 0
    hi -= wlo
    if hi > size or <uint64_t>nb > size - hi:
        return 0
    first_p[0] = base + (first_off - wlo)
    stride[0] = s
    return 1


cdef void memory_affine(Ctx* c, Worker* w, const int64_t* ins, const int32_t* g, int n, int nb,
                        uint8_t* p, int64_t s, int first) noexcept nogil:
    """LDG/STG at known in-bounds addresses p + s * (lane - g[0]). A contiguous group reading
    or writing consecutive aligned elements is a row copy the compiler vectorizes."""
    cdef int64_t L = c.L
    cdef int op = <int>ins[C_OP], ty = <int>ins[C_TY], i, lane, l0 = g[0]
    cdef uint64_t* rv = w.regs + (ins[C_DST] if op == OP_LDG else ins[C_A]) * L
    cdef bint dense = first >= 0 and s == nb and (<size_t>p) % <size_t>nb == 0
    if op == OP_LDG:
        if dense and nb == 4 and ty == T_I32:
            rv += first
            for i in range(n):
                rv[i] = <uint64_t><int64_t>(<const int32_t*>p)[i]
        elif dense and nb == 4:
            rv += first
            for i in range(n):
                rv[i] = (<const uint32_t*>p)[i]
        elif dense and nb == 8:
            memcpy(rv + first, p, 8 * n)
        else:
            for i in range(n):
                lane = g[i]
                rv[lane] = load_value(p + s * (lane - l0), nb, ty)
        write_tags(dst_tags(c, w, ins), <uint8_t>(ty + 1), g, n, first)
    elif dense and nb == 4:
        rv += first
        for i in range(n):
            (<uint32_t*>p)[i] = <uint32_t>rv[i]
    elif dense and nb == 8:
        memcpy(p, rv + first, 8 * n)
    else:                   # lanes store in turn: where addresses coincide the highest lane wins
        for i in range(n):
            lane = g[i]
            store_value(p + s * (lane - l0), nb, rv[lane])


cdef void exec_memory(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n, int64_t pc,
                      int first) noexcept nogil:
    """LDG / STG / LDS / STS: one lane loop per access size so each compiles to plain moves."""
    cdef int op = <int>ins[C_OP], ty = <int>ins[C_TY], i, lane
    cdef int nb = type_bits(ty) >> 3
    cdef int64_t L = c.L
    cdef bint shared = op == OP_LDS or op == OP_STS
    cdef uint64_t last_h = 0, last_size = 0, last_lo = 0
    cdef uint8_t* last_base = NULL
    cdef uint8_t* p
    cdef uint32_t b4
    cdef uint64_t b8
    cdef uint8_t tag = <uint8_t>(ty + 1)
    cdef uint64_t* rv
    cdef uint8_t* tv = w.tags + ins[C_DST] * L
    cdef int64_t stride
    cdef AddrMode am
    if not shared and ins[C_AMODE] != AM_IMM and affine_access(c, w, ins, g, n, nb, &last_base, &stride):
        if w.any_stale:           # the address rows are not needed, the value row is
            fresh_row(c, w, ins[C_DST] if op == OP_LDG else ins[C_A])
        memory_affine(c, w, ins, g, n, nb, last_base, stride, first)
        return
    if w.any_stale:
        fresh_rows(c, w, ins)
    if not shared and group_in_bounds(c, w, ins, g, n, nb, &last_base, &last_lo):
        memory_unchecked(c, w, ins, g, n, nb, last_base, last_lo, first)
        return
    last_base = NULL
    address_mode(c, w, ins, &am)
    if op == OP_LDG or op == OP_LDS:
        rv = w.regs + ins[C_DST] * L
        if nb == 4 and ty != T_I32:
            for i in range(n):
                lane = g[i]
                p = access(c, w, &am, lane, pc, 4, shared, &last_h, &last_base, &last_size,
                           &last_lo)
                if p != NULL:
                    memcpy(&b4, p, 4)
                    rv[lane] = b4
                    tv[lane] = tag
        elif nb == 8:
            for i in range(n):
                lane = g[i]
                p = access(c, w, &am, lane, pc, 8, shared, &last_h, &last_base, &last_size,
                           &last_lo)
                if p != NULL:
                    memcpy(&b8, p, 8)
                    rv[lane] = b8
                    tv[lane] = tag
        else:
            for i in range(n):
                lane = g[i]
                p = access(c, w, &am, lane, pc, nb, shared, &last_h, &last_base, &last_size,
                           &last_lo)
                if p != NULL:
                    rv[lane] = load_value(p, nb, ty)
                    tv[lane] = tag
    else:
        rv = w.regs + ins[C_A] * L
        if nb == 4:
            for i in range(n):
                lane = g[i]
                p = access(c, w, &am, lane, pc, 4, shared, &last_h, &last_base, &last_size,
                           &last_lo)
                if p != NULL:
                    b4 = <uint32_t>rv[lane]
                    memcpy(p, &b4, 4)
        elif nb == 8:
            for i in range(n):
                lane = g[i]
                p = access(c, w, &am, lane, pc, 8, shared, &last_h, &last_base, &last_size,
                           &last_lo)
                if p != NULL:
                    memcpy(p, &rv[lane], 8)
        else:
            for i in range(n):
                lane = g[i]
                p = access(c, w, &am, lane, pc, nb, shared, &last_h, &last_base, &last_size,
                           &last_lo)
                if p != NULL:
                    store_value(p, nb, rv[lane])
# hot: end
