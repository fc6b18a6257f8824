"""The block-sparse SpMM benchmark: our kernels against dense and sparse peers, in one interleaved run.

    python benchmarks/bench_spmm.py --quick          # smoke run (seconds)
    optimum-ro bench                                 # full run: JSON in benchmarks/results/, table in BENCHMARKS.md

For every (threads, M, K x N) group all methods of all sparsities are timed round-robin, so load
changes on a shared machine hit every method alike; each figure is the median (and min) of the
repeats. Peers: torch dense fp32 / bf16, torch dynamic int8 (fbgemm), torch CSR and BSR (MKL; CPU BSR needs
square blocks: 8x8), ONNX Runtime MatMul fp32 and dynamically quantised int8 (MatMulInteger).

Modules: ``methods`` (the timed callables), ``onnx_peer`` (ONNX Runtime), ``deepsparse`` (DeepSparse in its
own venv), ``timing`` (round-robin timer, machine facts), ``harness`` (one whole run), ``summary`` (ratios and
% of peak), ``report`` (Markdown), ``command`` (the arguments of ``bench_spmm.py`` / ``optimum-ro bench``).
"""
