# Part of hologram/_core.pyx (included): value helpers. Integers are kept sign- or
# zero-extended to 64 bits ("canonical"), floats as their bit patterns; f16/bf16 arithmetic
# goes through f32 (ISA.md §2). The helpers named by the `sem` column of hologram.isa.SPECS
# live here; the generated _vm_ops.pxi calls them.

from libc.math cimport exp, expf, isnan, pow, powf, signbit, sqrt, sqrtf, trunc

# hot: begin
ctypedef fused real:          # f32 and f64 share the float semantics below
    float
    double


cdef inline uint64_t canon(uint64_t v, int sh, bint sgn) noexcept nogil:
    if sgn:
        return <uint64_t>((<int64_t>(v << sh)) >> sh)
    return (v << sh) >> sh


cdef inline bint is_signed(int ty) noexcept nogil:
    return ty <= T_I64


cdef inline int type_bits(int ty) noexcept nogil:
    if ty == T_I8 or ty == T_U8:
        return 8
    if ty == T_I16 or ty == T_U16 or ty == T_F16 or ty == T_BF16:
        return 16
    if ty == T_I32 or ty == T_U32 or ty == T_F32:
        return 32
    return 64


cdef inline float ld_f(int ty, uint64_t b) noexcept nogil:
    """An f32, f16 or bf16 register as an f32 (exact)."""
    if ty == T_F32:
        return hg_f32(b)
    if ty == T_F16:
        return hg_f32(hg_widen_f16(<uint32_t>b))
    return hg_f32(<uint32_t>(b << 16))


cdef inline uint64_t st_f(int ty, float f) noexcept nogil:
    """An f32 rounded to the register content of type f32, f16 or bf16."""
    if ty == T_F32:
        return hg_f32_bits(f)
    if ty == T_F16:
        return hg_round_f16(<uint32_t>hg_f32_bits(f))
    return hg_round_bf16(<uint32_t>hg_f32_bits(f))


# ---- integer semantics (ISA.md §5.2, §5.3) on canonical values; the caller canonicalises

cdef inline uint64_t int_div(uint64_t x, uint64_t y, bint sgn, int sh) noexcept nogil:
    """Truncating division; MIN / -1 wraps to MIN (the caller checks y != 0)."""
    if sgn:
        return (0 - x) if <int64_t>y == -1 else <uint64_t>(<int64_t>x / <int64_t>y)
    return x / y


cdef inline uint64_t int_rem(uint64_t x, uint64_t y, bint sgn, int sh) noexcept nogil:
    """Remainder with the dividend's sign; MIN rem -1 = 0 (the caller checks y != 0)."""
    if sgn:
        return 0 if <int64_t>y == -1 else <uint64_t>(<int64_t>x % <int64_t>y)
    return x % y


cdef inline uint64_t int_min(uint64_t x, uint64_t y, bint sgn, int sh) noexcept nogil:
    if sgn:
        return x if <int64_t>x < <int64_t>y else y
    return x if x < y else y


cdef inline uint64_t int_max(uint64_t x, uint64_t y, bint sgn, int sh) noexcept nogil:
    if sgn:
        return x if <int64_t>x > <int64_t>y else y
    return x if x > y else y


cdef inline uint64_t int_shl(uint64_t x, uint64_t y, bint sgn, int sh) noexcept nogil:
    """Shift by the amount mod the type's width."""
    return x << (y & <uint64_t>(63 - sh))


cdef inline uint64_t int_shr(uint64_t x, uint64_t y, bint sgn, int sh) noexcept nogil:
    """Arithmetic for signed types, logical for unsigned; the amount mod the width."""
    if sgn:
        return <uint64_t>(<int64_t>x >> (y & <uint64_t>(63 - sh)))
    return x >> (y & <uint64_t>(63 - sh))


cdef inline uint64_t int_abs(uint64_t x, bint sgn, int sh) noexcept nogil:
    """abs(MIN) wraps to MIN."""
    return (0 - x) if <int64_t>x < 0 else x


cdef inline uint64_t int_mad(uint64_t x, uint64_t y, uint64_t z, bint sgn, int sh) noexcept nogil:
    return x * y + z


# ---- float semantics (ISA.md §5.2, §5.6) in f32 or f64

cdef inline real fmin_isa(real a, real b) noexcept nogil:
    """MIN of ISA.md §5.2: one NaN -> the other operand; -0 < +0."""
    if isnan(a):
        return b
    if isnan(b):
        return a
    if a < b:
        return a
    if b < a:
        return b
    return a if signbit(a) else b


cdef inline real fmax_isa(real a, real b) noexcept nogil:
    if isnan(a):
        return b
    if isnan(b):
        return a
    if a > b:
        return a
    if b > a:
        return b
    return b if signbit(a) else a


cdef inline real pow_isa(real a, real b) noexcept nogil:
    """C pow, except that pow(x, ±0) = pow(1, y) = 1 even for (signaling) NaNs (§5.6), for
    which the C library returns NaN."""
    if b == 0.0 or a == 1.0:
        return 1.0
    if real is float:
        return powf(a, b)
    else:
        return pow(a, b)


cdef inline real rsqrt_isa(real x) noexcept nogil:
    """1 / sqrt(x): two roundings (rsqrt(±0) = ±inf)."""
    if real is float:
        return 1.0 / sqrtf(x)
    else:
        return 1.0 / sqrt(x)


cdef inline real sigmoid_isa(real x) noexcept nogil:
    """1 / (1 + exp(-x)), every step rounded to the type."""
    cdef real t, u
    if real is float:
        t = expf(-x)
    else:
        t = exp(-x)
    u = 1.0 + t
    return <real>1.0 / u


cdef inline real mad_isa(real a, real b, real c) noexcept nogil:
    """a * b + c rounded twice (MAD is not fused, ISA.md §5.2)."""
    cdef real p = a * b
    return p + c


cdef inline uint64_t abs_bits(uint64_t x, uint64_t sign) noexcept nogil:
    """ABS of a float: clear the sign bit (NaN payloads kept)."""
    return x & ~sign


cdef inline uint64_t neg_bits(uint64_t x, uint64_t sign) noexcept nogil:
    """NEG of a float: flip the sign bit."""
    return x ^ sign


cdef inline uint64_t fold(int op, int ty, uint64_t acc, uint64_t x, int sh) noexcept nogil:
    """acc OP x in type ty for a constant binary op (reductions and float atomics)."""
    if ty <= T_U64:
        return int_binop(op, acc, x, ty <= T_I64, sh)
    if ty == T_F64:
        return hg_f64_bits(real_binop(op, hg_f64(acc), hg_f64(x)))
    return st_f(ty, real_binop(op, ld_f(ty, acc), ld_f(ty, x)))


# ---- conversion (ISA.md §5.5)

cdef inline uint64_t float_to_int(double t, int ty) noexcept nogil:
    """Truncate toward zero and saturate (NaN -> 0), ISA.md §5.5."""
    cdef int bits = type_bits(ty)
    cdef double lim
    if isnan(t):
        return 0
    t = trunc(t)
    if ty <= T_I64:
        lim = 2.0 ** (bits - 1)
        if t >= lim:
            return canon((<uint64_t>1 << (bits - 1)) - 1, 64 - bits, 1)
        if t < -lim:
            return canon(<uint64_t>1 << (bits - 1), 64 - bits, 1)
        return <uint64_t>(<int64_t>t)
    lim = 2.0 ** bits
    if t >= lim:
        return (<uint64_t>0xFFFFFFFFFFFFFFFF) >> (64 - bits)
    if t <= 0.0:
        return 0
    return <uint64_t>t


cdef inline uint64_t convert(uint64_t x, int st, int dt, int dsh) noexcept nogil:
    """CVT from type st to dt of a canonical value / bit pattern (all 144 pairs)."""
    cdef float f
    cdef double d
    if st == dt:
        return x
    if st <= T_U64:
        if dt <= T_U64:
            return canon(x, dsh, dt <= T_I64)
        if dt == T_F64:
            return hg_f64_bits(<double>(<int64_t>x)) if st <= T_I64 else hg_f64_bits(<double>x)
        f = <float>(<int64_t>x) if st <= T_I64 else <float>x
        return st_f(dt, f)
    # float source: widen to double (exact)
    d = hg_f64(x) if st == T_F64 else <double>ld_f(st, x)
    if dt <= T_U64:
        return float_to_int(d, dt)
    if dt == T_F64:
        return hg_f64_bits(d)
    return st_f(dt, <float>d)      # f64 -> f32 RNE first, then to f16/bf16
# hot: end
