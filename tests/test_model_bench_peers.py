"""The whole-model benchmark's peers in another process (benchmarks/model_peer.py, model_deepsparse.py and the
DeepSparse peer script): the JSON-lines protocol, failures that must not stop a run, and bench_model.py end to
end with a fake ``deepsparse`` package (ONNX Runtime behind DeepSparse's API), since CI has no DeepSparse.
No timing asserts."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

FAKE_DEEPSPARSE = """
import onnxruntime as ort

__version__ = "0.0-fake"


def compile_model(path, batch_size=1, num_cores=1):
    # as DeepSparse does: its banner on stdout (the peer must keep it off the protocol)
    print("DeepSparse, Copyright 2021-present / Neuralmagic, Inc. version: 0.0-fake COMMUNITY | (x) "
          "(system=test, binary=test)")
    if batch_size == 2 and str(path).endswith("-sparse.onnx"):
        raise RuntimeError("fake refusal: this CPU is not supported")
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_cores
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda inputs: session.run(None, dict(zip(names, inputs)))
"""


@pytest.fixture
def fake_deepsparse(tmp_path, monkeypatch):
    """A ``deepsparse`` package importable by subprocesses started from here (PYTHONPATH)."""
    package = tmp_path / "fake_site" / "deepsparse"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_DEEPSPARSE)
    monkeypatch.setenv("PYTHONPATH", str(package.parent))
    return package.parent


def test_round_robin_takes_a_peers_own_times():
    from spmm.timing import time_round_robin

    class Remote:
        calls = 0

        def __call__(self):
            Remote.calls += 1

        def timed_pair(self):
            return 0.004, 0.002

    timings = time_round_robin({"remote": Remote(), "local": lambda: None}, repeats=3)
    assert Remote.calls == 1  # the warm-up; the rounds go through timed_pair
    assert timings["remote"]["warm_ms"] == [2.0, 2.0, 2.0] and timings["remote"]["cold_min_ms"] == 4.0
    assert len(timings["local"]["warm_ms"]) == 3


def test_peer_script_answers_every_request_and_survives_failures():
    from deepsparse_model_peer import serve

    requests = io.StringIO('{"op": "time", "key": "none"}\n{"op": "nope"}\nnot json\n\n{"op": "quit"}\n{"op": "x"}\n')
    answers = io.StringIO()
    serve(requests, answers)
    lines = [json.loads(line) for line in answers.getvalue().splitlines()]
    assert [a["ok"] for a in lines] == [False, False, False, True]  # nothing after quit
    assert "no engine 'none'" in lines[0]["error"] and "unknown op 'nope'" in lines[1]["error"]


def test_peer_process_reports_a_refusal_a_dead_peer_and_garbage(tmp_path):
    from model_peer import PeerError, PeerProcess, PeerRefused

    script = tmp_path / "peer.py"
    script.write_text(
        "import json, sys\n"
        "for line in sys.stdin:\n"
        "    op = json.loads(line)['op']\n"
        "    if op == 'die': sys.exit(3)\n"
        "    if op == 'garbage': print('hello', flush=True); continue\n"
        "    print(json.dumps({'ok': op == 'fine', 'error': 'refused ' + op, 'echo': op}), flush=True)\n"
    )
    peer = PeerProcess([sys.executable, script], log=tmp_path / "peer.log")
    assert peer.request("fine", timeout=60) == {"error": "refused fine", "echo": "fine"}
    with pytest.raises(PeerRefused, match="refused other"):
        peer.request("other", timeout=60)
    with pytest.raises(PeerError, match="exited"):
        peer.request("die", timeout=60)
    with pytest.raises(PeerError, match="exited"):
        peer.request("fine", timeout=60)
    peer.close()
    garbage = PeerProcess([sys.executable, script])
    with pytest.raises(PeerError, match="not JSON"):
        garbage.request("garbage", timeout=60)
    garbage.close()
    with pytest.raises(PeerError, match="cannot start"):
        PeerProcess([tmp_path / "no-such-python", script])


def test_a_missing_deepsparse_python_is_recorded_not_raised(tmp_path):
    from model_deepsparse import DeepSparseRunner

    runner = DeepSparseRunner(str(tmp_path / "no-such-python"), tmp_path)
    assert not runner.alive
    record = runner.close()
    assert record["available"] is False and "cannot start" in record["errors"][0]


def test_magnitude_prune_zeroes_the_smallest_share_of_each_encoder_linear():
    import torch
    from model_deepsparse import magnitude_prune

    from optimum_ro.testing import tiny_bert

    model = tiny_bert("BertModel", hidden_size=32, num_layers=2)
    share = magnitude_prune(model, 0.9)
    assert share == pytest.approx(0.9, abs=1e-3)
    layer = model.encoder.layer[0].intermediate.dense.weight
    kept = layer[layer != 0].abs()
    assert kept.numel() == round(0.1 * layer.numel()) and torch.all(kept > 0)
    assert torch.all(model.embeddings.position_embeddings.weight != 0)  # only encoder linears are pruned


def test_whole_model_benchmark_with_a_deepsparse_peer_and_a_student(tmp_path, fake_deepsparse):
    from optimum_ro.testing import tiny_bert

    student = tmp_path / "ro-student"
    tiny_bert("BertForSequenceClassification", hidden_size=32, num_layers=2).save_pretrained(student)
    md = tmp_path / "model.md"
    argv = [sys.executable, BENCH / "bench_model.py", "--presets", "tiny", "--seq", "32", "--batch", "1", "2"]
    argv += ["--threads", "1", "--repeats", "2", "--out-dir", tmp_path, "--markdown", md]
    argv += ["--student", student, "--student", tmp_path / "absent", "--deepsparse-python", sys.executable]
    run = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "student skipped" in run.stdout and "absent: no config.json there" in run.stdout

    (path,) = tmp_path.glob("model-*.json")
    result = json.loads(path.read_text())
    ds = result["deepsparse"]
    assert (
        ds["available"]
        and ds["version"] == "0.0-fake"
        and ds["engine"] == ("DeepSparse 0.0-fake COMMUNITY (system=test, binary=test)")
    )
    assert [(g["preset"], g["batch"]) for g in result["groups"]] == [
        ("tiny", 1),
        ("tiny", 2),
        ("ro-student", 1),
        ("ro-student", 2),
    ]
    for g in result["groups"]:
        expected = {"deepsparse_dense", "deepsparse_sparse"} if g["batch"] == 1 else {"deepsparse_dense"}
        assert {n for n in g["timings"] if n.startswith("deepsparse")} == expected
        assert all(len(t["warm_ms"]) == 2 for t in g["timings"].values())
    assert [(r["preset"], r["variant"], r["batch"]) for r in ds["refused"]] == [
        ("tiny", "sparse", 2),
        ("ro-student", "sparse", 2),
    ]
    assert len(ds["checks"]) == 6 and all(c["max_abs_diff"] < 1e-4 for c in ds["checks"])
    assert ds["models"]["ro-student"]["sparse_share_of_zeros"] == pytest.approx(0.9, abs=1e-3)
    assert result["versions"]["deepsparse"] == "0.0-fake"
    left = {p.name for p in (tmp_path / ".onnx_tmp").iterdir()}
    assert left == {"deepsparse_peer.log"}  # the ONNX files go after each model, the scratch files at the end

    text = md.read_text()
    assert "| DeepSparse dense | DeepSparse 90% |" in text
    assert "×DeepSparse 90% (SparseBert fp32 / int8) |" in text
    assert "DeepSparse refused tiny sparse thr 1 batch 2: RuntimeError: fake refusal" in text
    assert "| ro-student | 1 | 2 |" in text and "Student skipped:" in text
    again = tmp_path / "again.md"
    subprocess.run([sys.executable, BENCH / "bench_model.py", "--from-json", path, "--markdown", again], check=True)
    assert again.read_text() == text


def test_targets_section_judges_each_target_from_the_timings():
    sys.path.insert(0, str(BENCH))
    import bench_model

    def timings(**ms):
        return {name: {"min_ms": value, "median_ms": value} for name, value in ms.items()}

    base = dict(rest=10.0, rest_classes=3.0, ort_fp32=80.0, deepsparse_sparse=30.0)
    result = {
        "sparsity": 0.9,
        "seq": 128,
        "isa": "avx512",
        "groups": [
            {"preset": "bert-base", "threads": 2, "batch": 1, "timings": timings(classes_fp32=12.0, **base)},
            {"preset": "bert-base", "threads": 2, "batch": 8, "timings": timings(classes_fp32=20.0, **base)},
            {
                "preset": "bert-mini",
                "threads": 2,
                "batch": 1,
                "timings": timings(
                    classes_fp32=2.5, classes_int8=2.0, rest=2.0, rest_classes=1.5, deepsparse_sparse=2.4
                ),
            },
        ],
    }
    rows = {line.split(" | ")[0].lstrip("| "): line for line in bench_model.targets_section(result) if "|" in line}
    assert (
        "| 2.50x" in rows["bert-base: ≥ 2.0x DeepSparse 90%"] and "| met |" in rows["bert-base: ≥ 2.0x DeepSparse 90%"]
    )
    assert "| missed |" in rows["bert-base: ≥ 8.0x ONNX Runtime fp32"]
    assert "allows 10 ms" in rows["bert-base: ≥ 8.0x ONNX Runtime fp32"]
    mini = rows["bert-mini: ≥ 1.5x DeepSparse 90%"]
    assert "1.20x" in mini and "| missed |" in mini and "1.5 ms outside" in mini  # int8 is the faster one
    assert "(30%)" in rows["bert-base: the rest ≤ 40% of the dense model's"]
    assert "| missed |" in rows["bert-base: batch 8 no worse than batch 1 (×DeepSparse, fp32)"]
