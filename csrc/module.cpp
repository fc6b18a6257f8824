// CPython bindings of optimum_ro.sparse._C (no libtorch: tensors arrive as raw
// data pointers; optimum_ro/sparse/kernels.py validates dtypes/shapes first).
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "spmm.h"

namespace {

struct Feature {
    const char* name;
    int present;
};

void detect(Feature* f, int n) {
    for (int i = 0; i < n; i++) f[i].present = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    // __builtin_cpu_supports needs literal names.
    f[0].present = __builtin_cpu_supports("avx2");
    f[1].present = __builtin_cpu_supports("fma");
    f[2].present = __builtin_cpu_supports("f16c");
    f[3].present = __builtin_cpu_supports("avx512f");
    f[4].present = __builtin_cpu_supports("avx512bw");
    f[5].present = __builtin_cpu_supports("avx512vl");
    f[6].present = __builtin_cpu_supports("avx512dq");
    f[7].present = __builtin_cpu_supports("avx512vnni");
    f[8].present = __builtin_cpu_supports("avx512bf16");
#endif
}

Feature FEATURES[] = {{"avx2", 0},     {"fma", 0},      {"f16c", 0},       {"avx512f", 0},   {"avx512bw", 0},
                      {"avx512vl", 0}, {"avx512dq", 0}, {"avx512vnni", 0}, {"avx512bf16", 0}};
const int NFEATURES = (int)(sizeof(FEATURES) / sizeof(FEATURES[0]));

int has_avx2() { return FEATURES[0].present && FEATURES[1].present && FEATURES[2].present; }
int has_avx512() {
    return has_avx2() && FEATURES[3].present && FEATURES[4].present && FEATURES[5].present && FEATURES[6].present &&
           FEATURES[7].present;
}
int has_avx512bf16() { return has_avx512() && FEATURES[8].present; }

PyObject* py_cpu_features(PyObject*, PyObject*) {
    PyObject* d = PyDict_New();
    if (!d) return nullptr;
    for (int i = 0; i < NFEATURES; i++) {
        if (PyDict_SetItemString(d, FEATURES[i].name, FEATURES[i].present ? Py_True : Py_False) < 0) {
            Py_DECREF(d);
            return nullptr;
        }
    }
    return d;
}

PyObject* py_supported_isas(PyObject*, PyObject*) {
    if (has_avx512()) return Py_BuildValue("(sss)", "avx512", "avx2", "portable");
    if (has_avx2()) return Py_BuildValue("(ss)", "avx2", "portable");
    return Py_BuildValue("(s)", "portable");
}

int isa_code(const char* isa) {
    if (!strcmp(isa, "portable")) return 0;
    if (!strcmp(isa, "avx2")) return has_avx2() ? 1 : -1;
    if (!strcmp(isa, "avx512")) return has_avx512() ? 2 : -1;
    return -2;
}

void layer_norm(int code, const OroLnArgs* l) {
    if (code == 2) oro_layer_norm_avx512(l);
    else if (code == 1) oro_layer_norm_avx2(l);
    else oro_layer_norm_portable(l);
}

PyObject* py_spmm(PyObject*, PyObject* args) {
    const char* isa;
    unsigned long long x, values, row_ptr, col_idx, scales, bias, residual, y;
    unsigned long long ln_gamma = 0, ln_beta = 0;
    long long M, K, N, br, bc;
    int dtype, activation, nthreads, ln = 0;
    double ln_eps = 0.0;
    // optional tail (ln, gamma, beta, eps): LayerNorm of each output row after the kernel, in the same call
    if (!PyArg_ParseTuple(args, "sKLLLKiKKLLKKKKii|iKKd", &isa, &x, &M, &K, &N, &values, &dtype, &row_ptr, &col_idx,
                          &br, &bc, &scales, &bias, &residual, &y, &activation, &nthreads, &ln, &ln_gamma, &ln_beta,
                          &ln_eps))
        return nullptr;
    const int code = isa_code(isa);
    if (code == -2) return PyErr_Format(PyExc_ValueError, "unknown ISA %s (expected avx512, avx2 or portable)", isa);
    if (code == -1) return PyErr_Format(PyExc_RuntimeError, "this CPU cannot run the %s kernels", isa);
    if (M < 0 || K <= 0 || N <= 0 || br <= 0 || bc <= 0 || N % br || K % bc || nthreads < 1 || dtype < 0 ||
        dtype > 2 || !x || !y || !row_ptr || (dtype == ORO_INT8 && !scales) || (ln && !(ln_eps >= 0.0)))
        return PyErr_Format(PyExc_ValueError, "invalid block-sparse problem (M=%lld K=%lld N=%lld block %lldx%lld)", M,
                            K, N, br, bc);
    OroSpmmArgs a;
    a.x = (const float*)x;
    a.M = M;
    a.K = K;
    a.N = N;
    a.values = (const void*)values;
    a.dtype = dtype;
    a.row_ptr = (const int32_t*)row_ptr;
    a.col_idx = (const int32_t*)col_idx;
    a.br = br;
    a.bc = bc;
    a.scales = (const float*)scales;
    a.bias = (const float*)bias;
    a.residual = (const float*)residual;
    a.y = (float*)y;
    a.activation = activation;
    a.nthreads = nthreads;
    const char* kernel = "none";
    int rc = 1;
    if (M > 0) {
        Py_BEGIN_ALLOW_THREADS;
        rc = 0;
        if (code == 2 && has_avx512bf16()) rc = oro_spmm_avx512bf16(&a, &kernel);
        if (code == 2 && rc == 0) rc = oro_spmm_avx512(&a, &kernel);
        if (code == 1) rc = oro_spmm_avx2(&a, &kernel);
        if (rc == 0) rc = oro_spmm_portable(&a, &kernel);
        if (rc == 1 && ln) {
            const OroLnArgs l = {a.y, a.y, M, N, (const float*)ln_gamma, (const float*)ln_beta, ln_eps, nthreads};
            layer_norm(code, &l);
        }
        Py_END_ALLOW_THREADS;
    }
    if (rc < 0) return PyErr_NoMemory();
    return PyUnicode_FromString(kernel);
}

PyObject* py_layer_norm(PyObject*, PyObject* args) {
    const char* isa;
    unsigned long long x, y, gamma, beta;
    long long M, N;
    double eps;
    int nthreads;
    if (!PyArg_ParseTuple(args, "sKKLLKKdi", &isa, &x, &y, &M, &N, &gamma, &beta, &eps, &nthreads)) return nullptr;
    const int code = isa_code(isa);
    if (code == -2) return PyErr_Format(PyExc_ValueError, "unknown ISA %s (expected avx512, avx2 or portable)", isa);
    if (code == -1) return PyErr_Format(PyExc_RuntimeError, "this CPU cannot run the %s kernels", isa);
    if (M < 0 || N <= 0 || nthreads < 1 || !x || !y || !(eps >= 0.0))
        return PyErr_Format(PyExc_ValueError, "invalid layer norm problem (M=%lld N=%lld)", M, N);
    if (M > 0) {
        const OroLnArgs l = {(const float*)x, (float*)y, M, N, (const float*)gamma, (const float*)beta, eps, nthreads};
        Py_BEGIN_ALLOW_THREADS;
        layer_norm(code, &l);
        Py_END_ALLOW_THREADS;
    }
    Py_RETURN_NONE;
}

PyObject* py_peak(PyObject*, PyObject* args) {
    const char* isa;
    int kind;
    long long iters;
    if (!PyArg_ParseTuple(args, "siL", &isa, &kind, &iters)) return nullptr;
    const int code = isa_code(isa);
    if (code < 0) return PyErr_Format(PyExc_RuntimeError, "this CPU cannot run the %s kernels", isa);
    double r = 0.0;
    Py_BEGIN_ALLOW_THREADS;
    r = code == 2 ? oro_peak_avx512(kind, iters) : code == 1 ? oro_peak_avx2(kind, iters) : oro_peak_portable(kind, iters);
    Py_END_ALLOW_THREADS;
    return PyFloat_FromDouble(r);
}

const char* TUNING_FIELDS[] = {"fp_tile_rows",   "fp_l1_x_bytes", "fp_group_bytes", "fp_block_rows",
                               "i8_group_tiles", "i8_store_rows", "i8_chains"};
const int NTUNING = (int)(sizeof(TUNING_FIELDS) / sizeof(TUNING_FIELDS[0]));
static_assert(sizeof(OroTuning) == NTUNING * sizeof(int64_t), "one name per OroTuning field, in order");

int64_t* tuning_field(OroTuning* t, int i) {
    int64_t* f[] = {&t->fp_tile_rows,   &t->fp_l1_x_bytes, &t->fp_group_bytes, &t->fp_block_rows,
                    &t->i8_group_tiles, &t->i8_store_rows, &t->i8_chains};
    return f[i];
}

PyObject* tuning_dict(OroTuning t) {
    PyObject* d = PyDict_New();
    for (int i = 0; d && i < NTUNING; i++) {
        PyObject* v = PyLong_FromLongLong(*tuning_field(&t, i));
        if (!v || PyDict_SetItemString(d, TUNING_FIELDS[i], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return nullptr;
        }
        Py_DECREF(v);
    }
    return d;
}

PyObject* py_set_tuning(PyObject*, PyObject* args) {
    OroTuning t;
    long long v[NTUNING];
    if (!PyArg_ParseTuple(args, "LLLLLLL", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6])) return nullptr;
    for (int i = 0; i < NTUNING; i++) *tuning_field(&t, i) = v[i];
    oro_set_tuning(&t);
    Py_RETURN_NONE;
}

PyObject* py_get_tuning(PyObject*, PyObject*) {
    PyObject* d = tuning_dict(oro_resolve_tuning());
    int64_t l1d, l2;
    oro_cache_sizes(&l1d, &l2);
    PyObject* c1 = d ? PyLong_FromLongLong(l1d) : nullptr;
    PyObject* c2 = c1 ? PyLong_FromLongLong(l2) : nullptr;
    const int ok = c2 && PyDict_SetItemString(d, "l1d_bytes", c1) == 0 && PyDict_SetItemString(d, "l2_bytes", c2) == 0;
    Py_XDECREF(c1);
    Py_XDECREF(c2);
    if (!ok) {
        Py_XDECREF(d);
        return nullptr;
    }
    return d;
}

PyMethodDef METHODS[] = {
    {"cpu_features", py_cpu_features, METH_NOARGS, "CPU features relevant to the kernels, as a dict."},
    {"supported_isas", py_supported_isas, METH_NOARGS, "Kernel ISAs this CPU can run, fastest first."},
    {"spmm", py_spmm, METH_VARARGS, "Block-sparse Y = act(X W^T + b) + residual on raw pointers, then optionally LayerNorm(Y) (ln, gamma, beta, eps); "
     "returns the kernel name."},
    {"layer_norm", py_layer_norm, METH_VARARGS,
     "layer_norm(isa, x, y, M, N, gamma, beta, eps, nthreads): row-wise LayerNorm on raw pointers (x may be y)."},
    {"peak", py_peak, METH_VARARGS, "peak(isa, kind, iters): one-core peak, kind 0 = fp32 GFLOP/s, 1 = int8 GOP/s."},
    {"set_tuning", py_set_tuning, METH_VARARGS,
     "set_tuning(fp_tile_rows, fp_l1_x_bytes, fp_group_bytes, fp_block_rows, i8_group_tiles, i8_store_rows, "
     "i8_chains): 0 = automatic."},
    {"get_tuning", py_get_tuning, METH_NOARGS, "The cache blocking in effect (resolved) and the cache sizes it uses."},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_C", "Block-sparse CPU kernels (raw-pointer C API).", -1, METHODS,
                      nullptr, nullptr, nullptr, nullptr};

}  // namespace

PyMODINIT_FUNC PyInit__C(void) {
    detect(FEATURES, NFEATURES);
    return PyModule_Create(&MODULE);
}
