// bf16 weights in 16x2 blocks with AVX512-BF16 dot products (Zen 4, Cooper Lake, Sapphire Rapids).
//
// `vdpbf16ps` multiplies pairs of adjacent bf16 values and adds both products to an fp32 lane:
// lane r += w[r][k] * x[k] + w[r][k+1] * x[k+1]. A 16x2 block stored [16][2] is already that
// operand (dword r = row r's pair), and X converted once per call to bf16, row-major, puts
// x[m][k], x[m][k+1] in one dword, so each block costs one broadcast and one instruction per row:
// 32 multiply-adds, twice the widening kernel's 16 per FMA. The price is precision: activations
// are rounded to bf16 (round to nearest even, as `vcvtneps2bf16` does); products of two bf16
// values are exact in fp32, so the only other difference from fp32 is the order of the sums.
//
// Chosen by the dispatcher (module.cpp) for bf16 weights with 16x2 blocks when the CPU has
// avx512bf16; the cache blocking is the fp driver's (kernels_fp.inc).
#if defined(__x86_64__) || defined(__i386__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma,f16c")
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "spmm.h"

namespace {

#include "isa_avx512_fp.inc"
#include "kernels_common.inc"
#include "kernels_fp.inc"

// Panels of 16 outputs for a tile of MT rows of bf16 X (same contract as fp_panels).
template <int MT>
static void dp_panels(const uint16_t* x, int64_t K, int mrows, const uint16_t* w, const int32_t* cols,
                      const int32_t* start, const int32_t* stop, int64_t p0, int64_t p1, const float* bias,
                      const float* res, float* y, int64_t N, int act, int first, int last) {
    const uint16_t* xr[MT];
#pragma GCC unroll 32
    for (int m = 0; m < MT; m++) xr[m] = x + (m < mrows ? m : 0) * K;
    const int post = last && (act != ORO_ACT_NONE || res);
    for (int64_t pn = p0; pn < p1; pn++) {
        float* yp = y + pn * 16;
        __m512 acc[MT];
#pragma GCC unroll 32
        for (int m = 0; m < MT; m++) acc[m] = (first || m >= mrows) ? _mm512_setzero_ps() : _mm512_loadu_ps(yp + m * N);
        const int32_t b1 = stop[pn];
        for (int32_t b = start[pn]; b < b1; b++) {
            const __m512bh wv = (__m512bh)_mm512_loadu_si512((const void*)(w + (int64_t)b * 32));
            const int64_t k = (int64_t)cols[b] * 2;
#pragma GCC unroll 32
            for (int m = 0; m < MT; m++) {
                int32_t pair;
                memcpy(&pair, xr[m] + k, 4);  // x[m][k], x[m][k+1]
                acc[m] = _mm512_dpbf16_ps(acc[m], wv, (__m512bh)_mm512_set1_epi32(pair));
            }
        }
        const __m512 bv = (last && bias) ? _mm512_loadu_ps(bias + pn * 16) : _mm512_setzero_ps();
#pragma GCC unroll 32
        for (int m = 0; m < MT; m++)
            if (m < mrows) _mm512_storeu_ps(yp + m * N, _mm512_add_ps(acc[m], bv));
        if (post) fp_post(yp, mrows, N, res ? res + pn * 16 : nullptr, act);
    }
}

template <int MT>
struct DpTable {
    static void fill(FpFn<uint16_t, uint16_t>::type* t) {
        t[MT] = &dp_panels<MT>;
        DpTable<MT - 1>::fill(t);
    }
};
template <>
struct DpTable<0> {
    static void fill(FpFn<uint16_t, uint16_t>::type*) {}
};

// x [M, K] fp32 -> xb [M, K] bf16, round to nearest even (masked tail: no scalar path).
static void to_bf16(const float* x, int64_t M, int64_t K, uint16_t* xb, int nthreads) {
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t m = 0; m < M; m++) {
        const float* src = x + m * K;
        uint16_t* dst = xb + m * K;
        for (int64_t k = 0; k < K; k += 16) {
            const __mmask16 keep = K - k >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (K - k)) - 1);
            const __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(keep, src + k));
            _mm256_mask_storeu_epi16((void*)(dst + k), keep, (__m256i)v);
        }
    }
}

}  // namespace

extern "C" int oro_spmm_avx512bf16(const OroSpmmArgs* a, const char** kernel) {
    if (a->dtype != ORO_BF16 || a->br != 16 || a->bc != 2) return 0;
    *kernel = "avx512-bf16/bf16-16x2";
    uint16_t* xb = (uint16_t*)alloc64((int64_t)sizeof(uint16_t) * a->M * a->K);
    if (!xb) return -1;
    to_bf16(a->x, a->M, a->K, xb, a->nthreads);
    FpFn<uint16_t, uint16_t>::type table[FP2_MT + 1];
    DpTable<FP2_MT>::fill(table);
    const int rc = fp_spmm<uint16_t, uint16_t, 2>(a, xb, table, FP2_MT);
    free(xb);
    return rc;
}

#else  // not x86: this ISA does not exist, the dispatcher never selects it
#include "spmm.h"
extern "C" int oro_spmm_avx512bf16(const OroSpmmArgs*, const char**) { return 0; }
#endif
