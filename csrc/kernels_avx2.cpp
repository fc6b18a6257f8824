// AVX2 + FMA kernels (Zen 2/3, Haswell and later). Chosen at run time; the
// algorithm lives in kernels_fast.inc, only the thin wrappers below are ISA code.
#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx2,fma,f16c")
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "spmm.h"

namespace {

// ---- 16 floats = two ymm
enum { FP_MT = 6, PEAK_ACC = 6 };  // 6 rows x 2 ymm = 12 accumulators + 2 weights + 1 broadcast
enum { FP2_MT = 5 };               // 16x2 blocks: 5 rows x 2 ymm + 4 weights + 1 broadcast
// Small blocks (kernels_tok.inc), 16-token vectors per tile: 4-row blocks keep 4 x 2 ymm accumulators, 1-row
// blocks 2 sets x 2 vectors x 2 ymm (8 of the 16 ymm, beside the loaded X and the broadcast weight).
enum { TOK_T4 = 1, TOK_T1 = 2 };
struct VF {
    __m256 lo, hi;
};
static inline VF vf_zero() { return VF{_mm256_setzero_ps(), _mm256_setzero_ps()}; }
static inline VF vf_load(const float* p) { return VF{_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
static inline VF vf_loadw(const float* p) { return vf_load(p); }
static inline __m256 bf16x8_to_f32(const uint16_t* p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
static inline VF vf_loadw(const uint16_t* p) { return VF{bf16x8_to_f32(p), bf16x8_to_f32(p + 8)}; }
// A 16x2 block ([16][2]: w[r][k], w[r][k+1] adjacent) as its two columns. fp32: one shuffle per 8
// rows, which leaves the rows in lane order 0 1 4 5 2 3 6 7; vf2_fix swaps the middle 64-bit pairs
// of the accumulators once per panel instead of once per block. bf16: each dword is one row's pair,
// so a shift and a mask widen both columns in row order.
static inline void vf2_loadw(const float* p, VF& w0, VF& w1) {
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8), c = _mm256_loadu_ps(p + 16),
                 d = _mm256_loadu_ps(p + 24);
    w0 = VF{_mm256_shuffle_ps(a, b, 0x88), _mm256_shuffle_ps(c, d, 0x88)};
    w1 = VF{_mm256_shuffle_ps(a, b, 0xDD), _mm256_shuffle_ps(c, d, 0xDD)};
}
static inline __m256 fix8(__m256 v) { return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v), 0xD8)); }
static inline VF vf2_fix(VF v, const float*) { return VF{fix8(v.lo), fix8(v.hi)}; }
static inline void vf2_loadw(const uint16_t* p, VF& w0, VF& w1) {
    const __m256i a = _mm256_loadu_si256((const __m256i*)p), b = _mm256_loadu_si256((const __m256i*)(p + 16));
    const __m256i hi = _mm256_set1_epi32((int)0xFFFF0000u);
    w0 = VF{_mm256_castsi256_ps(_mm256_slli_epi32(a, 16)), _mm256_castsi256_ps(_mm256_slli_epi32(b, 16))};
    w1 = VF{_mm256_castsi256_ps(_mm256_and_si256(a, hi)), _mm256_castsi256_ps(_mm256_and_si256(b, hi))};
}
static inline VF vf2_fix(VF v, const uint16_t*) { return v; }
static inline void vf_fma_bcast(VF& acc, const float* xp, const VF& w) {
    const __m256 x = _mm256_broadcast_ss(xp);
    acc.lo = _mm256_fmadd_ps(x, w.lo, acc.lo);
    acc.hi = _mm256_fmadd_ps(x, w.hi, acc.hi);
}
static inline VF vf_fma(VF acc, VF a, VF b) {
    return VF{_mm256_fmadd_ps(a.lo, b.lo, acc.lo), _mm256_fmadd_ps(a.hi, b.hi, acc.hi)};
}
static inline VF vf_add(VF a, VF b) { return VF{_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
static inline void vf_store(float* p, VF v) {
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
}
static inline VF vf_sub(VF a, VF b) { return VF{_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
static inline VF vf_mul(VF a, VF b) { return VF{_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
static inline VF vf_set1(float v) { return VF{_mm256_set1_ps(v), _mm256_set1_ps(v)}; }
static inline float vf_hsum(VF a) {
    const __m256 s = _mm256_add_ps(a.lo, a.hi);
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

// ---- int8: 8 tokens per ymm, one dword lane = 4 consecutive k of one token (as on AVX-512), signed
// activations in [-127, 127]. AVX2 has no vpdpbusd; vpmaddubsw (u8 x s8, pairs summed into int16) would
// saturate with signed activations moved to u8, so the signs go the other way: the weights' magnitudes
// are the unsigned operand (|w| <= 128) and each activation takes its weight's sign (vpsignb). Every
// pair sum is then at most 2 * 128 * 127 = 32512: exact, no saturation, for any int8 weight. vpmaddwd
// with ones widens the pairs to int32. X stays 8-bit: half the bytes of widening it to int16.
// Tile layout per 4-k group: 8 x 4 bytes.
// I_RB: output rows per transposed store of Y; each token's 64 floats (4 lines) are written at once. Zen 3,
// 1 thread, M = 128, A/B in one process: 16 -> 64 rows took 768x3072 at 90% from 771 to 700 us and its
// fixed cost (an all-zero weight: quantising X, dequantising and storing Y) from 221 to 134 us; 128 and
// 256 rows were no faster.
// I_CH: one accumulator set per row; each product is added with vpaddd (1 cycle), so 4 chains do not bind
// the loop here (2 sets, i.e. 2 blocks in flight, measured ~2% faster on Zen 3: within noise).
// IL tokens per vector, I_T vectors per group, XQ_PAD XOR/pad byte, I_GB bytes per 4-k group (csrc/README.md)
enum { IL = 8, I_T = 4, XQ_PAD = 0, I_GB = 32, I_RB = 64, I_CH = 1 };
struct VI {
    __m256i v;
};
struct VW {
    __m256i mag, sgn;
};
static inline VI vi_zero() { return VI{_mm256_setzero_si256()}; }
static inline VI vi_add(VI a, VI b) { return VI{_mm256_add_epi32(a.v, b.v)}; }
static inline VW vw_bcast(const int8_t* w) {  // one 1x4 block: its 4 weights and their magnitudes
    int32_t v;
    memcpy(&v, w, 4);
    const __m256i sgn = _mm256_set1_epi32(v);
    return VW{_mm256_abs_epi8(sgn), sgn};
}
static inline VI vi_dot(VI acc, const uint8_t* xp, const VW& w) {
    const __m256i xs = _mm256_sign_epi8(_mm256_load_si256((const __m256i*)xp), w.sgn);
    const __m256i pairs = _mm256_maddubs_epi16(w.mag, xs);
    return VI{_mm256_add_epi32(acc.v, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))};
}
static inline int32_t w_corr(const int8_t*, int32_t, int32_t) { return 0; }  // signed activations: no offset
static inline void vi_dequant(float* out, VI acc, int32_t corr, const float* sx, float sw, float bias) {
    const __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc.v, _mm256_set1_epi32(corr)));
    const __m256 s = _mm256_mul_ps(_mm256_loadu_ps(sx), _mm256_set1_ps(sw));
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_mul_ps(v, s), _mm256_set1_ps(bias)));
}
// Bit-identical to oro_quantize_row: amax, inv = 127/amax, round-half-even(x*inv), clamp.
static float quant_row(const float* x, int64_t K, int8_t* q) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 mx = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) mx = _mm256_max_ps(mx, _mm256_and_ps(_mm256_loadu_ps(x + k), absmask));
    float lanes[8];
    _mm256_storeu_ps(lanes, mx);
    float amax = 0.0f;
    for (int j = 0; j < 8; j++) amax = lanes[j] > amax ? lanes[j] : amax;
    for (; k < K; k++) {
        const float v = fabsf(x[k]);
        amax = v > amax ? v : amax;
    }
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    const __m256 vinv = _mm256_set1_ps(inv), hi = _mm256_set1_ps(127.0f), lo = _mm256_set1_ps(-127.0f);
    for (k = 0; k + 8 <= K; k += 8) {
        __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + k), vinv),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        r = _mm256_min_ps(_mm256_max_ps(r, lo), hi);
        const __m256i i32 = _mm256_cvtps_epi32(r);
        const __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
        _mm_storel_epi64((__m128i*)(q + k), _mm_packs_epi16(i16, i16));
    }
    for (; k < K; k++) q[k] = oro_quantize_one(x[k], inv);
    return amax / 127.0f;
}

#include "kernels_fast.inc"

static double peak_int8(int64_t iters) {
    // The int8 dot product without VNNI, as dense int8 GEMMs run it (MLAS, fbgemm): vpmaddubsw (32 u8 x s8
    // products, summed in pairs to int16), vpmaddwd with ones (to int32), vpaddd: 32 MACs per three
    // instructions. 4 independent accumulators fed by 4 distinct activation vectors, so the loop is bound by
    // throughput, not by a chain's latency, and fits the 16 ymm registers (with 8 accumulators it spills and
    // reads ~30% less; a loop that feeds each product back into its own input is latency-bound and reads
    // anywhere from 96 to 153 GOP/s on one Zen 3 core, below what ORT's dense int8 MatMul reaches). The
    // weight vector changes every iteration (one vpaddb per 4 dot products, not counted) so the products
    // cannot be hoisted out of the loop. Our exact kernel adds a vpsignb per product (4 instructions per 32
    // MACs), so it cannot exceed ~3/4 of this.
    constexpr int NA = 4;
    __m256i acc[NA], xs[NA];
    volatile int32_t seed = 3;
    __m256i w = _mm256_set1_epi8((char)seed);
    const __m256i ones16 = _mm256_set1_epi16(1), step = _mm256_set1_epi8(1);
#pragma GCC unroll 4
    for (int j = 0; j < NA; j++) {
        acc[j] = _mm256_set1_epi32(seed + j);
        xs[j] = _mm256_set1_epi8((char)(seed + 2 * j + 1));
    }
    const double t0 = oro_now_seconds();
    for (int64_t i = 0; i < iters; i++) {
#pragma GCC unroll 4
        for (int j = 0; j < NA; j++)
            acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(_mm256_maddubs_epi16(w, xs[j]), ones16));
        w = _mm256_add_epi8(w, step);
    }
    const double dt = oro_now_seconds() - t0;
    __m256i tot = acc[0];
#pragma GCC unroll 4
    for (int j = 1; j < NA; j++) tot = _mm256_add_epi32(tot, acc[j]);
    int32_t lanes[8];  // every lane is read, so no lane's work is dead code
    _mm256_storeu_si256((__m256i*)lanes, tot);
    int32_t all = 0;
    for (int j = 0; j < 8; j++) all += lanes[j];
    volatile int32_t sink = all;
    (void)sink;
    return 2.0 * 32.0 * NA * (double)iters / dt * 1e-9;
}

}  // namespace

extern "C" int oro_spmm_avx2(const OroSpmmArgs* a, const char** kernel) {
    static const char* const names[FAST_NAMES] = {
        "avx2/fp32-16x1", "avx2/fp32-16x2", "avx2/bf16-16x1", "avx2/bf16-16x2", "avx2/int8-1x4", "avx2/fp32-4x1",
        "avx2/fp32-1x4",  "avx2/fp32-4x4",  "avx2/bf16-4x1",  "avx2/bf16-1x4",  "avx2/bf16-4x4", "avx2/int8-4x1"};
    return fast_spmm(a, kernel, names);
}

extern "C" double oro_peak_avx2(int kind, int64_t iters) {
    return kind == 0 ? fast_peak_fp32(iters) : peak_int8(iters);
}

extern "C" void oro_layer_norm_avx2(const OroLnArgs* a) { fast_layer_norm(a); }

#else  // not x86: this ISA does not exist, the dispatcher never selects it
#include "spmm.h"
extern "C" int oro_spmm_avx2(const OroSpmmArgs*, const char**) { return 0; }
extern "C" double oro_peak_avx2(int, int64_t) { return 0.0; }
extern "C" void oro_layer_norm_avx2(const OroLnArgs*) {}
#endif
