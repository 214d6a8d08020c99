/* Small C helpers of the hologram VM that Cython cannot express: atomics, bit casts, f16/bf16
 * rounding, a monotonic clock. Everything is static inline and allocation-free. */
#ifndef HOLOGRAM_VMHELPERS_H
#define HOLOGRAM_VMHELPERS_H

#include <stdint.h>
#include <string.h>
#include <math.h>

#if defined(_WIN32)
  #ifndef WIN32_LEAN_AND_MEAN
  #define WIN32_LEAN_AND_MEAN
  #endif
  #include <windows.h>
#else
  #include <time.h>
  #include <sched.h>
#endif

/* ---- bit casts ------------------------------------------------------------------------- */
static inline float hg_f32(uint64_t b) { uint32_t u = (uint32_t)b; float f; memcpy(&f, &u, 4); return f; }
static inline uint64_t hg_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline double hg_f64(uint64_t b) { double d; memcpy(&d, &b, 8); return d; }
static inline uint64_t hg_f64_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

/* ---- f16 / bf16 (ISA.md 2; the same rules as hologram/floats.py) ------------------------- */
static inline uint32_t hg_round_f16(uint32_t x) {
    uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xFFu, man = x & 0x7FFFFFu;
    if (exp == 0xFFu) return sign | 0x7C00u | (man ? (0x200u | (man >> 13)) : 0u);
    int e = (int)exp - 127 + 15;
    if (e >= 0x1F) return sign | 0x7C00u;
    if (e <= 0) {
        if (e < -10) return sign;
        man |= 0x800000u;
        int shift = 14 - e;
        uint32_t half = 1u << (shift - 1), rest = man & ((1u << shift) - 1u), out = man >> shift;
        if (rest > half || (rest == half && (out & 1u))) out++;
        return sign | out;
    }
    uint32_t out = ((uint32_t)e << 10) | (man >> 13), rest = man & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (out & 1u))) out++;
    return sign | out;
}
static inline uint32_t hg_round_bf16(uint32_t x) {
    if ((x & 0x7F800000u) == 0x7F800000u && (x & 0x7FFFFFu)) return (x >> 16) | 0x0040u;
    return (uint32_t)((((uint64_t)x + 0x7FFFu + ((x >> 16) & 1u)) >> 16) & 0xFFFFu);
}
static inline uint32_t hg_widen_f16(uint32_t h) {
    uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
    if (exp == 0x1Fu) return sign | 0x7F800000u | (man << 13);
    if (exp == 0) {
        if (man == 0) return sign;
        int e = 127 - 15 + 1;
        while (!(man & 0x400u)) { man <<= 1; e--; }
        return sign | ((uint32_t)e << 23) | ((man & 0x3FFu) << 13);
    }
    return sign | ((exp - 15 + 127) << 23) | (man << 13);
}

/* ---- atomics: 32/64-bit compare-and-swap and loads (sequentially consistent) -------------- */
#if defined(_MSC_VER)
  #include <intrin.h>
  static inline uint32_t hg_cas32(void *p, uint32_t expected, uint32_t desired) {
      return (uint32_t)_InterlockedCompareExchange((volatile long *)p, (long)desired, (long)expected); }
  static inline uint64_t hg_cas64(void *p, uint64_t expected, uint64_t desired) {
      return (uint64_t)_InterlockedCompareExchange64((volatile __int64 *)p, (__int64)desired, (__int64)expected); }
  static inline uint32_t hg_load32(void *p) { return hg_cas32(p, 0, 0); }
  static inline uint64_t hg_load64(void *p) { return hg_cas64(p, 0, 0); }
  static inline int64_t hg_atomic_min_i64(volatile int64_t *p, int64_t v) {
      int64_t old = *p;
      while (v < old) { int64_t prev = _InterlockedCompareExchange64((volatile __int64 *)p, v, old);
                        if (prev == old) break; old = prev; }
      return old; }
  static inline int hg_atomic_load_int(volatile int *p) { return (int)_InterlockedOr((volatile long *)p, 0); }
  static inline void hg_atomic_store_int(volatile int *p, int v) { _InterlockedExchange((volatile long *)p, v); }
  static inline int64_t hg_fetch_add_i64(volatile int64_t *p, int64_t v) { return _InterlockedExchangeAdd64((volatile __int64 *)p, v); }
  static inline int hg_fetch_add_int(volatile int *p, int v) { return (int)_InterlockedExchangeAdd((volatile long *)p, v); }
  static inline int64_t hg_atomic_load_i64(volatile int64_t *p) { return _InterlockedOr64((volatile __int64 *)p, 0); }
  static inline uint32_t hg_xadd32(void *p, uint32_t v) { return (uint32_t)_InterlockedExchangeAdd((volatile long *)p, (long)v); }
  static inline uint64_t hg_xadd64(void *p, uint64_t v) { return (uint64_t)_InterlockedExchangeAdd64((volatile __int64 *)p, (__int64)v); }
  static inline uint32_t hg_xchg32(void *p, uint32_t v) { return (uint32_t)_InterlockedExchange((volatile long *)p, (long)v); }
  static inline uint64_t hg_xchg64(void *p, uint64_t v) { return (uint64_t)_InterlockedExchange64((volatile __int64 *)p, (__int64)v); }
  static inline void hg_spin_pause(void) { YieldProcessor(); }
#else
  static inline uint32_t hg_cas32(void *p, uint32_t expected, uint32_t desired) {
      __atomic_compare_exchange_n((uint32_t *)p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
      return expected; }
  static inline uint64_t hg_cas64(void *p, uint64_t expected, uint64_t desired) {
      __atomic_compare_exchange_n((uint64_t *)p, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
      return expected; }
  static inline uint32_t hg_load32(void *p) { return __atomic_load_n((uint32_t *)p, __ATOMIC_SEQ_CST); }
  static inline uint64_t hg_load64(void *p) { return __atomic_load_n((uint64_t *)p, __ATOMIC_SEQ_CST); }
  static inline int64_t hg_atomic_min_i64(volatile int64_t *p, int64_t v) {
      int64_t old = __atomic_load_n(p, __ATOMIC_SEQ_CST);
      while (v < old && !__atomic_compare_exchange_n(p, &old, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {}
      return old; }
  static inline int hg_atomic_load_int(volatile int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
  static inline void hg_atomic_store_int(volatile int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
  static inline int64_t hg_fetch_add_i64(volatile int64_t *p, int64_t v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
  static inline int hg_fetch_add_int(volatile int *p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
  static inline int64_t hg_atomic_load_i64(volatile int64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
  /* single-instruction read-modify-writes (lock xadd / xchg): no retry loop under contention */
  static inline uint32_t hg_xadd32(void *p, uint32_t v) { return __atomic_fetch_add((uint32_t *)p, v, __ATOMIC_SEQ_CST); }
  static inline uint64_t hg_xadd64(void *p, uint64_t v) { return __atomic_fetch_add((uint64_t *)p, v, __ATOMIC_SEQ_CST); }
  static inline uint32_t hg_xchg32(void *p, uint32_t v) { return __atomic_exchange_n((uint32_t *)p, v, __ATOMIC_SEQ_CST); }
  static inline uint64_t hg_xchg64(void *p, uint64_t v) { return __atomic_exchange_n((uint64_t *)p, v, __ATOMIC_SEQ_CST); }
  #if defined(__x86_64__) || defined(__i386__)
    static inline void hg_spin_pause(void) { __builtin_ia32_pause(); }
  #else
    static inline void hg_spin_pause(void) { sched_yield(); }
  #endif
#endif

/* ---- a monotonic clock in seconds, and a short sleep -------------------------------------- */
static inline double hg_now(void) {
#if defined(_WIN32)
    LARGE_INTEGER f, c; QueryPerformanceFrequency(&f); QueryPerformanceCounter(&c);
    return (double)c.QuadPart / (double)f.QuadPart;
#else
    struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
}
static inline void hg_sleep_us(int us) {
#if defined(_WIN32)
    Sleep(us >= 1000 ? us / 1000 : 0);
#else
    struct timespec ts = {0, (long)us * 1000L}; nanosleep(&ts, NULL);
#endif
}

#endif
