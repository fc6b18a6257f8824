// Shared C interface of the block-sparse kernels (no templates, no STL: every
// ISA translation unit includes this header, so it must stay ODR-neutral).
//
// Y[M,N] = act(X[M,K] . W[N,K]^T + bias) + residual, W block-sparse (BSR):
//   row_ptr[N/br + 1] (int32), col_idx[nnzb] (int32, block-column index),
//   values[nnzb][br][bc] (fp32 | bf16 bits | int8), scales[N] (int8 only).
#pragma once
#include <math.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { ORO_FP32 = 0, ORO_BF16 = 1, ORO_INT8 = 2 };
enum { ORO_ACT_NONE = 0, ORO_ACT_GELU = 1 };

typedef struct {
    const float* x;       // [M, K] row-major fp32
    int64_t M, K, N;
    const void* values;   // [nnzb, br, bc]
    int dtype;            // ORO_FP32 | ORO_BF16 | ORO_INT8
    const int32_t* row_ptr;
    const int32_t* col_idx;
    int64_t br, bc;       // block shape (rows = output features, cols = input features)
    const float* scales;  // [N] per-output-channel weight scales (int8), else NULL
    const float* bias;    // [N] or NULL
    const float* residual;// [M, N] or NULL, added after the activation
    float* y;             // [M, N] output
    int activation;       // ORO_ACT_*
    int nthreads;         // OpenMP threads (>= 1)
} OroSpmmArgs;

// Cache blocking of the fast kernels (AVX2 / AVX-512). A field set to 0 means automatic: its
// default for this CPU's cache sizes (oro_resolve_tuning). Results do not depend on these:
// every output element sums the same products in the same order whatever the blocking.
typedef struct {
    int64_t fp_tile_rows;    // fp32/bf16: X rows per register tile (capped at the ISA's maximum)
    int64_t fp_l1_x_bytes;   // fp32/bf16: bytes of one tile's K chunk of X that stay in L1
    int64_t fp_group_bytes;  // fp32/bf16: weight bytes of a panel group that stay in L2
    int64_t fp_block_rows;   // fp32/bf16: X rows per row block (the weights stream once per row block)
    int64_t i8_group_tiles;  // int8: token vectors per group (capped at the ISA's maximum)
    int64_t i8_store_rows;   // int8: output rows per transposed store of Y (0 = the ISA's default, I_RB)
    int64_t i8_chains;       // int8: accumulator sets per output row, 1 .. 3 (0 = the ISA's default, I_CH)
} OroTuning;

// Set the overrides (zeros = automatic) / read them back resolved for this CPU.
void oro_set_tuning(const OroTuning* t);
OroTuning oro_resolve_tuning(void);
// This CPU's L1 data and L2 cache sizes in bytes (sysconf; 32 KB / 512 KB if unknown).
void oro_cache_sizes(int64_t* l1d, int64_t* l2);

// Each returns: 1 = computed, 0 = this ISA has no kernel for (dtype, block shape),
// -1 = out of memory. `kernel` receives a static name of the kernel that ran.
int oro_spmm_portable(const OroSpmmArgs* a, const char** kernel);
int oro_spmm_avx2(const OroSpmmArgs* a, const char** kernel);
int oro_spmm_avx512(const OroSpmmArgs* a, const char** kernel);
// bf16 weights in 16x2 blocks with vdpbf16ps (activations rounded to bf16); 0 for anything else.
int oro_spmm_avx512bf16(const OroSpmmArgs* a, const char** kernel);

// Row-wise LayerNorm of torch.nn.LayerNorm over the last dim: for each of the M rows of N features,
// y = (x - mean) / sqrt(var + eps) * gamma + beta, var the biased variance; gamma / beta NULL mean 1 / 0.
// x may equal y (in place). The spmm binding runs it on Y after the kernel when asked (the output layers'
// LayerNorm fused into the call); a row is one thread's, so results do not depend on nthreads.
typedef struct {
    const float* x;      // [M, N] row-major fp32
    float* y;            // [M, N] output (may be x)
    int64_t M, N;
    const float* gamma;  // [N] or NULL
    const float* beta;   // [N] or NULL
    double eps;
    int nthreads;        // OpenMP threads (>= 1; at most one per row is used)
} OroLnArgs;

void oro_layer_norm_portable(const OroLnArgs* a);
void oro_layer_norm_avx2(const OroLnArgs* a);
void oro_layer_norm_avx512(const OroLnArgs* a);

// Peak throughput of one core, measured with a register-only loop:
// kind 0 = fp32 FMA (GFLOP/s), 1 = int8 dot products (GOP/s, 2 ops per MAC).
double oro_peak_portable(int kind, int64_t iters);
double oro_peak_avx2(int kind, int64_t iters);
double oro_peak_avx512(int kind, int64_t iters);

// Quantise one fp32 row to symmetric int8 (round half to even, clamp +-127).
// Returns the row scale amax/127 (0 for an all-zero row). Reference definition
// shared by all paths; the ISA files reproduce it bit for bit with vectors.
float oro_quantize_row(const float* x, int64_t K, int8_t* q);

// One activation quantised to int8: x * inv rounded to nearest even, clamped to [-127, 127] (the
// scalar step of every ISA's per-token quantiser; static inline keeps the header ODR-neutral).
static inline int8_t oro_quantize_one(float x, float inv) {
    const float r = nearbyintf(x * inv);
    return (int8_t)(r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r));
}

// Contiguous, nnz-balanced split of `nrows` block rows over `nparts` threads:
// part p owns [bounds[p], bounds[p+1]).
void oro_balance_rows(const int32_t* row_ptr, int64_t nrows, int nparts, int64_t* bounds);

double oro_now_seconds(void);

#ifdef __cplusplus
}
#endif
