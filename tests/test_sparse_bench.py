"""The SpMM benchmark harness (benchmarks/spmm): its report logic (ratios, % of peak, targets) on a made-up
result, and `optimum-ro bench` as its entry point; no timing here."""

import pytest

from spmm.report import markdown, targets
from spmm.summary import summarize


def fake_result():
    timings = {
        "torch_fp32": 10.0,
        "torch_bf16": 70.0,
        "torch_int8": 4.0,
        "ort_fp32": 9.0,
        "ort_int8": 3.0,
        "torch_csr@0.9": 5.0,
        "ours_fp32@0.9": 0.5,
        "ours_bf16@0.9": 0.4,
        "ours_int8@0.9": 1.0,
    }
    return {
        "date": "2026-01-01T00:00:00+00:00",
        "cpu": {"model": "Test CPU", "flags": ["avx2", "fma"]},
        "isa": "avx2",
        "versions": {"torch": "x"},
        "load_average_start": (1.0, 1.0, 1.0),
        "load_average_end": (1.0, 1.0, 1.0),
        "peak": {"fp32_gflops_per_core": 100.0, "int8_gops_per_core": 200.0},
        "repeats": 3,
        "groups": [
            {
                "threads": 1,
                "M": 128,
                "K": 768,
                "N": 3072,
                "timings": {k: {"median_ms": v * 1.1, "min_ms": v} for k, v in timings.items()},
                "density": {"0.9": {"density_16x1": 0.1, "density_1x4": 0.1}},
            }
        ],
    }


def test_summary_ratios_and_peak_fraction():
    (row,) = summarize(fake_result())
    assert row["x_fp32_vs_torch_fp32"] == 20.0
    assert row["best_dense_int8"] == 3.0 and row["x_int8_vs_best_int8"] == 3.0
    flops = 2 * 128 * 768 * 3072 * 0.1
    assert abs(row["fp32_gflops_nnz"] - flops / 0.5e6) < 1e-9
    assert abs(row["fp32_pct_peak"] - 100 * flops / 0.5e6 / 100.0) < 1e-9
    (median_row,) = summarize(fake_result(), stat="median_ms")
    assert abs(median_row["ours_fp32"] - 0.55) < 1e-12


def test_markdown_and_targets_tables():
    text = markdown(fake_result(), "x.json") + targets(fake_result())
    assert "Test CPU" in text and "kernel ISA **avx2**" in text
    assert "| 1 | 128 | 768×3072 | 90% |" in text
    assert "| 768×3072 | 20.0 ✅ | 3.0 ❌ |" in text


def test_bsr_peer_ratio_and_results_saved_before_it():
    result = fake_result()
    result["groups"][0]["timings"]["torch_bsr@0.9"] = {"median_ms": 2.2, "min_ms": 2.0}
    (row,) = summarize(result)
    assert row["torch_bsr"] == 2.0 and row["x_fp32_vs_bsr"] == 4.0
    assert "| 5 | 2 | 0.5 | 0.4 | 1 | 20.0 | 3.0 | 10.0 | 4.0 |" in markdown(result, "x.json")
    (old,) = summarize(fake_result())
    assert old["torch_bsr"] is None and old["x_fp32_vs_bsr"] is None
    assert "| 5 | – | 0.5 | 0.4 | 1 | 20.0 | 3.0 | 10.0 | – |" in markdown(fake_result(), "x.json")


def test_targets_table_works_out_the_rate_each_target_needs():
    result = fake_result()
    timing = result["groups"][0]["timings"]
    timing["ours_fp32_zero"] = {"median_ms": 0.1, "min_ms": 0.1}
    timing["ours_int8_zero"] = {"median_ms": 0.6, "min_ms": 0.6}  # more than ORT int8 / 6 = 0.5 ms leaves
    (row,) = summarize(result)
    flops = 2 * 128 * 768 * 3072 * 0.1
    assert abs(row["fp32_gflops_needed"] - flops / 0.9e6) < 1e-6  # 10 ms / 10 - 0.1 ms fixed
    assert abs(row["fp32_gflops_dots"] - flops / 0.4e6) < 1e-6  # 0.5 ms - 0.1 ms fixed
    assert row["int8_gops_needed"] == float("inf") and abs(row["int8_gops_dots"] - flops / 0.4e6) < 1e-6
    text = targets(result)
    assert "| 768×3072 | 0.1 / 0.6 | 67 (67%) | 151 (151%) | ∞ (nothing left) | 151 (75%) |" in text
    assert "What the speed-up targets ask" not in targets(fake_result())  # results saved before: no table


def test_targets_never_round_a_miss_up_to_the_goal():
    result = fake_result()
    result["groups"][0]["timings"]["ours_fp32@0.9"]["min_ms"] = 10.0 / 9.97  # 9.97x torch dense: a miss
    text = targets(result)
    assert "| 768×3072 | 9.97 ❌ |" in text and "10.0 ❌" not in text


def test_paired_ratios_pair_each_round_and_old_results_show_none():
    result = fake_result()
    timing = result["groups"][0]["timings"]
    timing["torch_fp32"]["warm_ms"] = [10.0, 20.0, 12.0]  # round 2 was a slow spell for both methods
    timing["ours_fp32@0.9"]["warm_ms"] = [0.5, 1.0, 0.8]
    timing["ort_int8"]["warm_ms"] = [3.0, 6.0, 3.3]  # the int8 peer with the lower minimum
    timing["torch_int8"]["warm_ms"] = [4.0, 4.0, 4.0]
    timing["ours_int8@0.9"]["warm_ms"] = [1.0, 2.0, 1.0]
    (row,) = summarize(result)
    assert row["x_fp32_paired"] == (20.0, 15.0, 20.0)  # ratios 20, 20, 15
    assert row["x_int8_paired"] == (3.0, 3.0, 3.3)  # against ORT, not torch int8
    assert "| 20.0 (15.0–20.0) | 3.0 (3.0–3.3) |" in targets(result)
    (old,) = summarize(fake_result())  # saved before the rounds were kept
    assert old["x_fp32_paired"] is None and old["x_int8_paired"] is None
    assert "| – | – |" in targets(fake_result())


def test_bench_is_a_cli_subcommand():
    from optimum_ro.cli import build_parser

    args = build_parser("bench").parse_args(["bench", "--quick", "--no-ort"])
    assert args.quick and args.no_ort and callable(args.func)


def test_bench_outside_a_checkout_says_what_to_do(tmp_path, monkeypatch):
    from optimum_ro.sparse import bench

    monkeypatch.setattr(bench, "CHECKOUT_BENCHMARKS", tmp_path / "site-packages" / "benchmarks")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="source checkout"):
        bench.find_harness()


def test_report_ends_with_the_notes_file():
    from spmm.report import NOTES_FILE, report

    text = report(fake_result(), "x.json")
    assert text.startswith("# Benchmarks") and "## Targets" in text
    assert text.endswith("\n" + NOTES_FILE.read_text()) and "## How to read this" in text


def test_peak_line_says_how_the_peak_was_taken():
    old = fake_result()  # no samples: an early JSON, whose peak was a median of 7 calls
    assert "(avx2, median of 7 register-only loops)" in markdown(old, "x.json")
    best = fake_result()
    best["peak"].update(fp32_samples=[90.0, 100.0, 95.0], int8_samples=[150.0, 200.0, 180.0])
    assert "(avx2, best of 3 register-only loops)" in markdown(best, "x.json")
    median = fake_result()
    median["peak"].update(fp32_samples=[100.0, 110.0, 90.0], int8_samples=[200.0, 210.0, 190.0])
    assert "(avx2, median of 3 register-only loops)" in markdown(median, "x.json")


def test_a_saved_result_renders_without_a_run_and_subset_runs_keep_the_report(tmp_path, monkeypatch):
    import argparse
    import json

    from spmm import command as bench

    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(fake_result()))
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = tmp_path / "report.md"
    assert bench.main(parser.parse_args(["--from-json", str(saved), "--markdown", str(out)])) == 0
    text = out.read_text()
    assert "Test CPU" in text and "## Targets" in text and f"from `{saved}`" in text

    # A subset run (--m/--shapes/--sparsities) writes its JSON, named -subset, and leaves BENCHMARKS.md alone.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench, "run", lambda args: fake_result())
    args = parser.parse_args(["--m", "128", "--shapes", "768x3072", "--out-dir", str(tmp_path / "res")])
    assert args.shapes == [(768, 3072)]
    assert bench.main(args) == 0
    (written,) = (tmp_path / "res").glob("spmm-avx2-*-subset.json")
    assert json.loads(written.read_text())["subset"] is True
    assert not (tmp_path / "BENCHMARKS.md").exists()
    with pytest.raises(SystemExit):  # argparse: "shape '768by3072' is not KxN"
        parser.parse_args(["--shapes", "768by3072"])


def test_blocking_sweep_script_checks_results_and_marks_the_automatic_choice(tmp_path):
    """benchmarks/tune_kernels.py on a tiny problem: it refuses a blocking that changes any output bit
    (run inside), and every row lists the automatic blocking among its timed candidates."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from optimum_ro.sparse import kernels

    if not kernels.extension_available() or kernels.current_isa() in ("portable", "reference"):
        pytest.skip("needs the AVX2 or AVX-512 kernels")
    out = tmp_path / "tune.json"
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "tune_kernels.py"
    subprocess.run(
        [sys.executable, str(script), "--m", "9", "--shapes", "64x32", "--repeats", "1", "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.read_text())
    assert [row["dtype"] for row in result["rows"]] == ["fp32", "int8"]
    for row in result["rows"]:
        assert sum(c["automatic"] for c in row["configs"]) >= 1
        assert all(c["ms"] > 0 for c in row["configs"])


def test_whole_model_benchmark_runs_checks_and_reports(tmp_path):
    """benchmarks/bench_model.py on a tiny BERT: every encoder linear layer sparse, fp32 output checked, report."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_model.py"
    md = tmp_path / "model.md"
    subprocess.run(
        [
            sys.executable,
            str(script),
            "--presets",
            "tiny",
            "--batches",
            "1",
            "2",
            "--threads",
            "1",
            "--repeats",
            "1",
            "--out-dir",
            str(tmp_path),
            "--markdown",
            str(md),
        ],
        check=True,
        timeout=300,
    )
    (path,) = tmp_path.glob("model-*.json")
    result = json.loads(path.read_text())
    assert [g["batch"] for g in result["groups"]] == [1, 2]
    facts = result["groups"][0]["facts"]
    assert facts["encoder_linear_layers"] == 12  # 2 layers x (q, k, v, attention output, intermediate, output)
    assert facts["sparse_layers"] == {
        "torch_fp32": 0,
        "torch_int8": 0,
        "ours_fp32": 12,
        "ours_bf16": 12,
        "ours_int8": 12,
        "rest": 0,
        "rest_ours": 12,  # the sparse layers of ours_fp32, every one returning zeros
        "classes_fp32": 12,
        "classes_int8": 12,
        "rest_classes": 12,
    }
    assert facts["fused_gelu_layers"]["ours_fp32"] == 2 and facts["fused_gelu_layers"]["torch_fp32"] == 0
    assert facts["fp32_max_abs_diff"] <= 1e-3
    assert all(len(t["warm_ms"]) == 1 for t in result["groups"][0]["timings"].values())
    text = md.read_text()
    assert "| tiny | 1 | 2 |" in text and "12 of 12 linear layers sparse (2 with their GELU fused)" in text
    again = tmp_path / "again.md"
    subprocess.run(
        [sys.executable, str(script), "--from-json", str(path), "--markdown", str(again)], check=True, timeout=120
    )
    assert again.read_text() == text
