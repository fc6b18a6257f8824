#!/usr/bin/env bash
# Kernel check on another machine (e.g. one with AVX-512), from a checkout with no install:
# builds the extension in place, runs the kernel tests on every ISA path the CPU has, then the
# benchmark, all pinned to two CPUs on different physical cores (like the 2-core machines the
# numbers in BENCHMARKS.md come from). Needs a Python with torch, pytest, hypothesis, onnx and
# onnxruntime; writes the logs, the JSON and the Markdown table into the folder given.
#
#     benchmarks/kernel_check.sh /tmp/check            # tests + full benchmark
#     TUNE=1 benchmarks/kernel_check.sh /tmp/check     # + the cache-blocking sweep, before the benchmark
#     TUNE=1 TUNE_ARGS="--dtypes int8" ...              # the sweep's own arguments (benchmarks/tune_kernels.py)
#     BENCH_ARGS="--m 128 --sparsities 0.9" benchmarks/kernel_check.sh /tmp/check
#     BENCH_ARGS="--repeats 15" ...   # where machine time is short: the full benchmark's default is 40
#                                     # rounds per group (~5 min on 2 Zen 3 cores), 15 take ~2 min
set -uo pipefail
out=${1:?usage: benchmarks/kernel_check.sh OUT_DIR}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}

# Two logical CPUs on different cores (first sibling of the first two cores), unless CPUS is set.
if [ -z "${CPUS:-}" ]; then
  CPUS=$(for f in /sys/devices/system/cpu/cpu[0-9]*/topology/thread_siblings_list; do cut -d, -f1 "$f" | cut -d- -f1; done \
         | sort -n | uniq | head -2 | paste -sd, -)
fi
{ date -u; uname -a; grep -m1 'model name' /proc/cpuinfo; nproc; echo "pinned to CPUs $CPUS"
  grep -m1 flags /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|fma|amx)' | paste -sd' ' -
  "$py" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__)'; } | tee "$out/machine.txt"

"$py" setup.py -q build_ext --inplace --parallel "$(nproc)" >"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
"$py" -c 'from optimum_ro.sparse import available_isas, cpu_features; print("isas", available_isas()); print("features", cpu_features())' \
  | tee -a "$out/machine.txt"

taskset -c "$CPUS" "$py" -m pytest -q -p no:cacheprovider tests/test_sparse_kernels.py tests/test_sparse_format.py \
  tests/test_sparse_linear.py tests/test_sparse_bench.py 2>&1 | tee "$out/tests.log" | tail -25
tests_rc=${PIPESTATUS[0]}

if [ -n "${TUNE:-}" ]; then  # the cache-blocking sweep (benchmarks/tune_kernels.py), 1 and 2 threads
  for t in 1 2; do
    # shellcheck disable=SC2086
    taskset -c "$CPUS" "$py" benchmarks/tune_kernels.py --threads $t --out "$out/tune-${t}t.json" ${TUNE_ARGS:-} 2>&1 | tail -12
  done
fi

# shellcheck disable=SC2086
taskset -c "$CPUS" "$py" benchmarks/bench_spmm.py --out-dir "$out" --markdown "$out/BENCHMARKS.md" ${BENCH_ARGS:-} \
  >"$out/bench.log" 2>&1
bench_rc=$?
grep -E "^threads=" "$out/bench.log" | tail -30
sed -n '/^## Targets/,/^## How/p' "$out/bench.log"
rm -rf "$out/.onnx_tmp"
echo "tests rc=$tests_rc bench rc=$bench_rc"
exit $((tests_rc || bench_rc))
