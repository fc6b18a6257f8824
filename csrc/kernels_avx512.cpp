// AVX-512 kernels (F/BW/VL/DQ + VNNI: Zen 4, Ice Lake and later). Chosen at run
// time; the algorithm lives in kernels_fast.inc and is the same one the AVX2 file
// runs, only the thin wrappers below differ.
//
// bf16 weights are widened to fp32 in registers here too: 16x1 blocks of a panel sit
// at unrelated k, so `vdpbf16ps` (which sums pairs of adjacent k) cannot take them;
// widening keeps the halved weight memory, which is what pays in this weight-streaming
// kernel. bf16 16x2 blocks go to kernels_avx512bf16.cpp (vdpbf16ps) when the CPU has
// avx512bf16, and are widened here otherwise.
#if defined(__x86_64__) || defined(__i386__)
// GCC 12 warns falsely inside its own avx512fintrin.h (_mm512_undefined_*).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "spmm.h"

namespace {

#include "isa_avx512_fp.inc"
// Small blocks (kernels_tok.inc): up to 4 vectors of 16 tokens per tile: 4-row blocks keep 16 accumulators,
// 1-row blocks 2 sets x 4 (32 zmm hold them beside the loaded X and the broadcast weight).
enum { TOK_T4 = 4, TOK_T1 = 4 };

// ---- int8: 16 tokens per zmm, one vpdpbusd lane = 4 consecutive k of one token.
// Activations are u8 = q + 128 (q ^ 0x80); the offset is removed per output row
// with 128 * (sum of the row's int8 weights). Tile layout per 4-k group: 16 x 4 bytes.
// Groups of 4 vectors (64 tokens; their quantised X, 64 x K bytes, about fills L1 at K = 768): 8
// vectors (128 tokens) ran up to 1.5x slower on a Sapphire Rapids Xeon (benchmarks/tune_kernels.py).
// I_CH: 3 accumulator sets per row, 12 vpdpbusd chains (latency 5, two per cycle on Sapphire Rapids: one set
// of 4 chains keeps it at most 40% busy). Sapphire Rapids, 90%, 1 thread (benchmarks/tune_kernels.py):
// 1 -> 2 -> 3 sets took 768x768, M = 128 from 165 to 158 to 145 us, 768x3072, M = 512 from
// 1.72 to 1.71 to 1.60 ms (the fixed cost per call, not the dot products, is most of the time at M = 128).
// I_RB: see kernels_avx2.cpp; 16 rows here: 32, 64 and 128 were no clearer winners on Sapphire Rapids.
// IL tokens per vector, I_T vectors per group, XQ_PAD XOR/pad byte, I_GB bytes per 4-k group (csrc/README.md)
enum { IL = 16, I_T = 4, XQ_PAD = 0x80, I_GB = 64, I_RB = 16, I_CH = 3 };
struct VI {
    __m512i v;
};
struct VW {
    __m512i w;
};
static inline VI vi_zero() { return VI{_mm512_setzero_si512()}; }
static inline VI vi_add(VI a, VI b) { return VI{_mm512_add_epi32(a.v, b.v)}; }
static inline VW vw_bcast(const int8_t* w) {  // the block's 4 int8 weights, as one dword
    int32_t v;
    memcpy(&v, w, 4);
    return VW{_mm512_set1_epi32(v)};
}
static inline VI vi_dot(VI acc, const uint8_t* xp, const VW& w) {
    return VI{_mm512_dpbusd_epi32(acc.v, _mm512_load_si512((const void*)xp), w.w)};
}
static inline int32_t w_corr(const int8_t* w, int32_t b0, int32_t b1) {
    int32_t s = 0;
    for (int64_t i = (int64_t)b0 * 4; i < (int64_t)b1 * 4; i++) s += w[i];
    return 128 * s;
}
static inline void vi_dequant(float* out, VI acc, int32_t corr, const float* sx, float sw, float bias) {
    const __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc.v, _mm512_set1_epi32(corr)));
    const __m512 s = _mm512_mul_ps(_mm512_loadu_ps(sx), _mm512_set1_ps(sw));
    _mm512_storeu_ps(out, _mm512_add_ps(_mm512_mul_ps(v, s), _mm512_set1_ps(bias)));
}
// Bit-identical to oro_quantize_row: amax, inv = 127/amax, round-half-even(x*inv), clamp.
static float quant_row(const float* x, int64_t K, int8_t* q) {
    __m512 mx = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(x + k)));
    float amax = _mm512_reduce_max_ps(mx);
    for (; k < K; k++) {
        const float v = fabsf(x[k]);
        amax = v > amax ? v : amax;
    }
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    const __m512 vinv = _mm512_set1_ps(inv), hi = _mm512_set1_ps(127.0f), lo = _mm512_set1_ps(-127.0f);
    for (k = 0; k + 16 <= K; k += 16) {
        __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_loadu_ps(x + k), vinv),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);
        _mm_storeu_si128((__m128i*)(q + k), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(r)));
    }
    for (; k < K; k++) q[k] = oro_quantize_one(x[k], inv);
    return amax / 127.0f;
}

#include "kernels_fast.inc"

static double peak_int8(int64_t iters) {
    // 12 independent vpdpbusd chains: 16 lanes x 4 MACs per instruction.
    __m512i acc[12];
    volatile int32_t seed = 3;
    const __m512i a = _mm512_set1_epi32(seed), b = _mm512_set1_epi32(seed + 1);
#pragma GCC unroll 12
    for (int j = 0; j < 12; j++) acc[j] = _mm512_set1_epi32(seed + j);  // distinct, or chains merge
    const double t0 = oro_now_seconds();
    for (int64_t i = 0; i < iters; i++) {
#pragma GCC unroll 12
        for (int j = 0; j < 12; j++) acc[j] = _mm512_dpbusd_epi32(acc[j], a, b);
    }
    const double dt = oro_now_seconds() - t0;
    __m512i tot = acc[0];
#pragma GCC unroll 12
    for (int j = 1; j < 12; j++) tot = _mm512_add_epi32(tot, acc[j]);
    volatile int32_t sink = _mm512_reduce_add_epi32(tot);
    (void)sink;
    return 2.0 * 64.0 * 12.0 * (double)iters / dt * 1e-9;
}

}  // namespace

extern "C" int oro_spmm_avx512(const OroSpmmArgs* a, const char** kernel) {
    static const char* const names[FAST_NAMES] = {
        "avx512/fp32-16x1", "avx512/fp32-16x2", "avx512/bf16-16x1", "avx512/bf16-16x2", "avx512-vnni/int8-1x4",
        "avx512/fp32-4x1",  "avx512/fp32-1x4",  "avx512/fp32-4x4",  "avx512/bf16-4x1",  "avx512/bf16-1x4",
        "avx512/bf16-4x4",  "avx512/int8-4x1"};
    return fast_spmm(a, kernel, names);
}

extern "C" double oro_peak_avx512(int kind, int64_t iters) {
    return kind == 0 ? fast_peak_fp32(iters) : peak_int8(iters);
}

extern "C" void oro_layer_norm_avx512(const OroLnArgs* a) { fast_layer_norm(a); }

#else  // not x86: this ISA does not exist, the dispatcher never selects it
#include "spmm.h"
extern "C" int oro_spmm_avx512(const OroSpmmArgs*, const char**) { return 0; }
extern "C" double oro_peak_avx512(int, int64_t) { return 0.0; }
extern "C" void oro_layer_norm_avx512(const OroLnArgs*) {}
#endif
