// Portable C++ kernels: any block shape, every dtype. Correct everywhere, modest
// speed; also the home of the small shared helpers declared in spmm.h.
#include "spmm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

namespace {

inline float bf16_to_float(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

inline float gelu(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752440f)); }

inline float weight_at(const OroSpmmArgs* a, int64_t idx) {
    if (a->dtype == ORO_FP32) return ((const float*)a->values)[idx];
    if (a->dtype == ORO_BF16) return bf16_to_float(((const uint16_t*)a->values)[idx]);
    return (float)((const int8_t*)a->values)[idx];
}

// One block row (br output features) for all M rows of X.
void block_row_float(const OroSpmmArgs* a, int64_t rb, float* acc) {
    const int64_t br = a->br, bc = a->bc, K = a->K, N = a->N, bsz = br * bc;
    const int32_t b0 = a->row_ptr[rb], b1 = a->row_ptr[rb + 1];
    for (int64_t m = 0; m < a->M; m++) {
        const float* xr = a->x + m * K;
        for (int64_t r = 0; r < br; r++) acc[r] = 0.0f;
        for (int32_t b = b0; b < b1; b++) {
            const float* xc = xr + (int64_t)a->col_idx[b] * bc;
            for (int64_t r = 0; r < br; r++) {
                float s = acc[r];
                for (int64_t c = 0; c < bc; c++) s += weight_at(a, b * bsz + r * bc + c) * xc[c];
                acc[r] = s;
            }
        }
        for (int64_t r = 0; r < br; r++) {
            const int64_t n = rb * br + r;
            float v = acc[r];
            if (a->bias) v += a->bias[n];
            if (a->activation == ORO_ACT_GELU) v = gelu(v);
            if (a->residual) v += a->residual[m * N + n];
            a->y[m * N + n] = v;
        }
    }
}

void block_row_int8(const OroSpmmArgs* a, int64_t rb, const int8_t* xq, const float* sx, int32_t* acc) {
    const int64_t br = a->br, bc = a->bc, K = a->K, N = a->N, bsz = br * bc;
    const int32_t b0 = a->row_ptr[rb], b1 = a->row_ptr[rb + 1];
    const int8_t* w = (const int8_t*)a->values;
    for (int64_t m = 0; m < a->M; m++) {
        const int8_t* xr = xq + m * K;
        for (int64_t r = 0; r < br; r++) acc[r] = 0;
        for (int32_t b = b0; b < b1; b++) {
            const int8_t* xc = xr + (int64_t)a->col_idx[b] * bc;
            for (int64_t r = 0; r < br; r++) {
                int32_t s = acc[r];
                for (int64_t c = 0; c < bc; c++) s += (int32_t)w[b * bsz + r * bc + c] * (int32_t)xc[c];
                acc[r] = s;
            }
        }
        for (int64_t r = 0; r < br; r++) {
            const int64_t n = rb * br + r;
            const float scale = sx[m] * a->scales[n];
            float v = (float)acc[r] * scale;
            if (a->bias) v += a->bias[n];
            if (a->activation == ORO_ACT_GELU) v = gelu(v);
            if (a->residual) v += a->residual[m * N + n];
            a->y[m * N + n] = v;
        }
    }
}

}  // namespace

extern "C" float oro_quantize_row(const float* x, int64_t K, int8_t* q) {
    float amax = 0.0f;
    for (int64_t k = 0; k < K; k++) {
        float v = fabsf(x[k]);
        amax = v > amax ? v : amax;
    }
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int64_t k = 0; k < K; k++) q[k] = oro_quantize_one(x[k], inv);
    return amax / 127.0f;
}

extern "C" void oro_balance_rows(const int32_t* row_ptr, int64_t nrows, int nparts, int64_t* bounds) {
    const int64_t nnz = row_ptr[nrows] - row_ptr[0];
    bounds[0] = 0;
    int64_t r = 0;
    for (int p = 1; p < nparts; p++) {
        if (nnz == 0) {
            bounds[p] = nrows * p / nparts;
            continue;
        }
        const int64_t target = row_ptr[0] + nnz * p / nparts;
        while (r < nrows && row_ptr[r] < target) r++;
        bounds[p] = r;
    }
    bounds[nparts] = nrows;
}

namespace {
OroTuning g_tuning = {0, 0, 0, 0, 0, 0};
}

extern "C" void oro_set_tuning(const OroTuning* t) { g_tuning = *t; }

namespace {
struct CacheSizes {
    int64_t l1d, l2;
};
CacheSizes read_cache_sizes() {
    const long a = sysconf(_SC_LEVEL1_DCACHE_SIZE), b = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return {a >= 16 * 1024 ? (int64_t)a : 32 * 1024, b >= 64 * 1024 ? (int64_t)b : 512 * 1024};
}
}  // namespace

extern "C" void oro_cache_sizes(int64_t* l1d, int64_t* l2) {
    static const CacheSizes sizes = read_cache_sizes();  // read once; C++ makes the first call thread-safe
    *l1d = sizes.l1d;
    *l2 = sizes.l2;
}

// Defaults: a tile's X chunk takes 5/8 of L1D, a panel group half of L2 (the best found on Zen 3,
// 32 KB / 512 KB; on a Sapphire Rapids Xeon, 48 KB / 2 MB, they came within 5% of the best 1-thread
// blocking of benchmarks/tune_kernels.py once its AVX-512 tiles were 16 rows).
extern "C" OroTuning oro_resolve_tuning(void) {
    OroTuning t = g_tuning;
    int64_t l1d, l2;
    oro_cache_sizes(&l1d, &l2);
    if (t.fp_l1_x_bytes <= 0) t.fp_l1_x_bytes = l1d * 5 / 8;
    if (t.fp_group_bytes <= 0) t.fp_group_bytes = l2 / 2;
    if (t.fp_block_rows <= 0) t.fp_block_rows = 160;
    if (t.fp_tile_rows < 0) t.fp_tile_rows = 0;    // 0: the ISA's maximum
    if (t.i8_group_tiles < 0) t.i8_group_tiles = 0;  // 0: the ISA's maximum
    if (t.i8_store_rows < 0) t.i8_store_rows = 0;    // 0: the ISA's default
    if (t.i8_chains < 0) t.i8_chains = 0;            // 0: the ISA's default
    return t;
}

extern "C" double oro_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

extern "C" int oro_spmm_portable(const OroSpmmArgs* a, const char** kernel) {
    const int64_t nrb = a->N / a->br;
    int oom = 0;
    if (a->dtype == ORO_INT8) {
        *kernel = "portable/int8";
        int8_t* xq = (int8_t*)malloc((size_t)(a->M * a->K) + 1);
        float* sx = (float*)malloc(sizeof(float) * (size_t)(a->M + 1));
        if (!xq || !sx) {
            free(xq);
            free(sx);
            return -1;
        }
#pragma omp parallel num_threads(a->nthreads)
        {
#pragma omp for schedule(static)
            for (int64_t m = 0; m < a->M; m++) sx[m] = oro_quantize_row(a->x + m * a->K, a->K, xq + m * a->K);
            int32_t* acc = (int32_t*)malloc(sizeof(int32_t) * (size_t)a->br);
            if (!acc) {
#pragma omp atomic write
                oom = 1;
            }
#pragma omp for schedule(dynamic, 1)
            for (int64_t rb = 0; rb < nrb; rb++)
                if (acc) block_row_int8(a, rb, xq, sx, acc);
            free(acc);
        }
        free(xq);
        free(sx);
    } else {
        *kernel = a->dtype == ORO_FP32 ? "portable/fp32" : "portable/bf16";
#pragma omp parallel num_threads(a->nthreads)
        {
            float* acc = (float*)malloc(sizeof(float) * (size_t)a->br);
            if (!acc) {
#pragma omp atomic write
                oom = 1;
            }
#pragma omp for schedule(dynamic, 1)
            for (int64_t rb = 0; rb < nrb; rb++)
                if (acc) block_row_float(a, rb, acc);
            free(acc);
        }
    }
    return oom ? -1 : 1;
}

// Scalar LayerNorm: moments in double (sum, then squared deviations), the output in float.
extern "C" void oro_layer_norm_portable(const OroLnArgs* a) {
    const int64_t N = a->N;
#pragma omp parallel for num_threads(a->nthreads < a->M ? a->nthreads : (int)(a->M > 0 ? a->M : 1)) schedule(static)
    for (int64_t m = 0; m < a->M; m++) {
        const float* x = a->x + m * N;
        float* y = a->y + m * N;
        double sum = 0.0, ss = 0.0;
        for (int64_t i = 0; i < N; i++) sum += x[i];
        const double mean = sum / (double)N;
        for (int64_t i = 0; i < N; i++) ss += (x[i] - mean) * (x[i] - mean);
        const float rstd = (float)(1.0 / sqrt(ss / (double)N + a->eps)), meanf = (float)mean;
        for (int64_t i = 0; i < N; i++) {
            float v = (x[i] - meanf) * rstd;
            if (a->gamma) v *= a->gamma[i];
            if (a->beta) v += a->beta[i];
            y[i] = v;
        }
    }
}

extern "C" double oro_peak_portable(int kind, int64_t iters) {
    // Scalar multiply-add chains; only a baseline, the ISA files measure vectors.
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    volatile float seed = 1e-7f;
    const float m = seed;
    const double t0 = oro_now_seconds();
    for (int64_t i = 0; i < iters; i++)
        for (int j = 0; j < 8; j++) acc[j] = acc[j] * m + m;
    const double dt = oro_now_seconds() - t0;
    volatile float sink = acc[0] + acc[7];
    (void)sink;
    (void)kind;
    return 2.0 * 8.0 * (double)iters / dt * 1e-9;
}
