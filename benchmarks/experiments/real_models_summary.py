"""The real models (teachers, students, sparse students) in one summary: results/summary.json and results/README.md.

    python examples/real_models_summary.py                       # reads results/real-models.json
    python examples/real_models_summary.py --root /other/checkout  # run folders of another checkout
    python examples/real_models_summary.py --latency-only          # re-time the models only (a quiet machine)

The manifest (``results/real-models.json``) lists one entry per (model, task)::

    {"model": "e5-small", "role": "teacher", "teacher": null, "task": "ner",
     "run": "runs/teachers-converged/multilingual-e5-small-ner",
     "results": "results/teacher-curves/multilingual-e5-small-ner.json",
     "command": "python examples/teacher_curve.py --task ner --epochs 5 --eval-every 130",
     "dtype": "float32", "block_shape": null, "sparsity": null}

``model`` is the column of the task x model table (one name across tasks); ``role`` is ``teacher``, ``student``
or ``sparse_student``; ``teacher`` names the model (same task) the retention is measured against: a student's
teacher, a sparse student's dense source. ``results`` is the committed JSON the scores come from: the teacher
curve's JSON (``validation`` / ``test`` numbers), ``distill_results.json`` (``validation.validation_<metric>``)
or the pruning run's ``eval_results.json`` (``validation.<metric>``); an optional ``"scores": {"test":
"a.b.c"}`` names the key path when none of these fits. An entry whose results JSON is absent is "not run".

Sizes and latencies are measured from the run folder (``run``, resolved under ``--root``) when it holds a model
(``measured: true``); otherwise they are kept from the previous ``summary.json`` row of the same (model, task)
(``measured: false``), so a checkout without the weights regenerates the same report from committed files.

Latency is timed for all the models at once, interleaved (benchmarks/experiments/interleaved_latency.py): on a
shared machine the load moves between minutes, and a model timed on its own gets the load of its own minutes.
Every model is loaded once, as a user loads it; then each round times a warm call of every model at batch 1 and
32, in an order rotated per round. ``latency_b1_ms`` / ``latency_b32_ms`` are the min over rounds (the headline),
``latency_b*_ms_median`` the median; ``load_1min_start`` / ``load_1min_end`` and ``torch_threads`` say what the
machine was doing. ``--latency-only`` re-times the previous rows' folders and keeps everything else.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROLES = ("teacher", "student", "sparse_student")
SPLITS = ("validation", "test")
TASK_ORDER = ("pos", "ner", "sentiment", "sts", "dialect")
TASK_LABELS = {"pos": "UPOS", "ner": "NER", "sentiment": "sentiment", "sts": "STS", "dialect": "dialect"}
SIZE_FIELDS = ("params", "nonzero_params", "nonzero_params_no_embeddings", "disk_mb")
# how the latencies were taken; rows carry these after the fields the tables read
TIMING_DETAILS = (
    "latency_b1_ms_median",
    "latency_b32_ms_median",
    "latency_rounds",
    "latency_method",
    "torch_threads",
    "load_1min_start",
    "load_1min_end",
    "model_class",
    "sparse_layers",
)
# latency_b*_ms: the min over the interleaved rounds of the warm call (the headline); load_1min: the higher of the
# load averages at the start and end of the rounds
LATENCY_FIELDS = ("latency_b1_ms", "latency_b32_ms", "hardware", "load_1min") + TIMING_DETAILS
MEASURED_FIELDS = SIZE_FIELDS + LATENCY_FIELDS
BATCH_SIZES = (1, 32)
REQUIRED = ("model", "role", "task", "results")

# the targets: teachers on test (points); students against their teacher; sparse students against their
# dense source (points lost, by sparsity) and the 90% int8 one against the dense fp32 teacher at batch 1
TEACHER_TARGETS = {"pos": 97.0, "ner": 80.0, "sentiment": 97.5, "sts": 82.0, "dialect": 88.0}
STUDENT_RETENTION, STUDENT_SPEEDUP_B1, STUDENT_PARAM_CUT = 0.98, 2.5, 0.5
SPARSE_POINTS_LOST = {0.8: 1.0, 0.9: 2.0}
SPARSE_INT8_SPEEDUP_B1 = 8.0

LATENCY_TEXTS = [
    "Guvernul a aprobat ieri un nou program de investiții pentru școlile din mediul rural.",
    "Filmul mi-a plăcut foarte mult, actorii au jucat excelent și povestea te ține cu sufletul la gură.",
    "Echipa națională s-a calificat la campionatul european după o victorie clară la București.",
]


# ---------------------------------------------------------------- manifest and scores


def load_manifest(path: Path) -> list[dict]:
    """The manifest's entries, checked: one clear line naming the entry and the problem on bad input."""
    try:
        entries = json.loads(Path(path).read_text())["models"]
    except FileNotFoundError:
        raise SystemExit(f"{path}: no such manifest; pass --manifest or create it (see the format in this script)")
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise SystemExit(f'{path}: not a manifest ({err}); it must be JSON {{"models": [{{...}}, ...]}}')
    seen = set()
    for i, e in enumerate(entries):
        missing = [k for k in REQUIRED if not e.get(k)]
        if missing:
            raise SystemExit(f"{path}: entry {i} lacks {', '.join(missing)}; every entry needs {', '.join(REQUIRED)}")
        if e["role"] not in ROLES:
            raise SystemExit(f"{path}: entry {i} ({e['model']}) has role {e['role']!r}; use one of {', '.join(ROLES)}")
        if e["role"] != "teacher" and not e.get("teacher"):
            raise SystemExit(f"{path}: entry {i} ({e['model']}, {e['task']}) is a {e['role']} without a teacher")
        key = (e["model"], e["task"])
        if key in seen:
            raise SystemExit(f"{path}: {e['model']} on {e['task']} is listed twice; keep one entry per (model, task)")
        seen.add(key)
    names = {(e["model"], e["task"]) for e in entries}
    for e in entries:
        if e.get("teacher") and (e["teacher"], e["task"]) not in names:
            raise SystemExit(f"{path}: {e['model']} names teacher {e['teacher']!r}, which has no {e['task']} entry")
    return entries


def task_metric(task: str, results: dict) -> str:
    if results.get("metric"):
        return results["metric"]
    from optimum_ro.tasks.specs import get_task

    return get_task(task).metric


def _dig(obj, dotted: str):
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def split_scores(entry: dict, results: dict) -> dict:
    """``{split: score}`` for the splits the results JSON scores (a fraction, as the runs write it)."""
    metric = task_metric(entry["task"], results)
    out = {}
    for split in SPLITS:
        if split in (entry.get("scores") or {}):
            value = _dig(results, entry["scores"][split])
        else:
            value = results.get(split)
            if isinstance(value, dict):  # distill_results.json prefixes the split, eval_results.json does not
                value = value.get(f"{split}_{metric}", value.get(metric))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[split] = float(value)
    return out


# ---------------------------------------------------------------- measurements


def load_model(folder: Path):
    """A model folder as its own class: sparse folders through their ``AutoModelFor*`` remote code; an
    architecture transformers does not know (e.g. a bi-encoder) as its ``AutoModel`` encoder."""
    import transformers
    from transformers import AutoConfig, AutoTokenizer

    import optimum_ro.models  # noqa: F401  (registers the sparse classes in this process)

    config = AutoConfig.from_pretrained(str(folder), trust_remote_code=True)
    auto = own_auto_class(config)
    if auto:
        cls = getattr(transformers, auto)
    else:
        arch = (getattr(config, "architectures", None) or ["AutoModel"])[0]
        cls = getattr(transformers, arch, None) or transformers.AutoModel
    model = cls.from_pretrained(str(folder), trust_remote_code=True).eval()
    return model, AutoTokenizer.from_pretrained(str(folder), trust_remote_code=True)


def own_auto_class(config) -> str | None:
    """The ``auto_map`` key whose class is the folder's own architecture (``architectures[0]``). A sparse folder
    maps every Auto class of its model type (``AutoModelForMaskedLM`` first), so the first key would load a
    classifier's checkpoint under a fresh masked-LM head; None where no key names the architecture."""
    arch = (getattr(config, "architectures", None) or [None])[0]
    for auto, ref in (getattr(config, "auto_map", None) or {}).items():
        ref = ref[0] if isinstance(ref, (list, tuple)) else ref
        if auto.startswith("AutoModel") and isinstance(ref, str) and ref.rsplit(".", 1)[-1] == arch:
            return auto
    return None


def embedding_parameters(model) -> int:
    """Parameters of the input embeddings (word, position, token type, their LayerNorm)."""
    from optimum_ro.models import is_sparse_bert, to_dense_model

    dense = to_dense_model(model) if is_sparse_bert(model) else model
    return sum(p.numel() for p in dense.base_model.embeddings.parameters())


ISA_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_int8")


def cpu_flags() -> str:
    """The vector-ISA flags of ``/proc/cpuinfo`` that the kernels can use (empty where the file is absent)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    line = next((x for x in text.splitlines() if x.startswith("flags")), "")
    have = set(line.split(":", 1)[-1].split())
    return " ".join(f for f in ISA_FLAGS if f in have)


def hardware(threads: int) -> str:
    """CPU model name, its vector-ISA flags, the sparse kernels' path and the torch threads."""
    from optimum_ro.demo.report import machine

    flags = cpu_flags()
    return f"{machine()}, {'ISA ' + flags + ', ' if flags else ''}{threads} torch threads"


def load_for_timing(folders: list[Path], threads: int) -> dict:
    """``{folder: (model, tokenizer)}``, every folder loaded once, as a user loads it, with ``threads`` torch threads
    set first. A sparse folder must come up on optimum-ro's sparse layers (the C++ kernels), or timing it means
    nothing."""
    import torch

    from optimum_ro.sparse import BlockSparseLinear

    torch.set_num_threads(threads)
    loaded = {}
    for folder in folders:
        model, tokenizer = load_model(folder)
        if getattr(model.config, "model_type", "").startswith("sparse_") and not any(
            isinstance(m, BlockSparseLinear) for m in model.modules()
        ):
            raise SystemExit(
                f"{folder}: a sparse folder loaded without optimum-ro's sparse layers; reinstall optimum-ro"
            )
        loaded[folder] = (model, tokenizer)
    return loaded


def folder_sizes(folder: Path, model) -> dict:
    """Parameters (all, non-zero, non-zero without embeddings) and weights on disk of the model in ``folder``."""
    from optimum_ro.demo.measure import parameter_counts
    from optimum_ro.hub.folder import folder_mb

    counts = parameter_counts(model)
    return {
        "params": counts["parameters"],
        "nonzero_params": counts["nonzero_parameters"],
        "nonzero_params_no_embeddings": counts["nonzero_parameters"] - embedding_parameters(model),
        "disk_mb": round(folder_mb(folder), 1),
    }


def _timer():
    """benchmarks/experiments/interleaved_latency.py, also when this file runs as a script (as
    examples/real_models_summary.py runs it, benchmarks/ is then not on ``sys.path``)."""
    benchmarks = str(REPO / "benchmarks")
    if benchmarks not in sys.path:
        sys.path.insert(0, benchmarks)
    from experiments import interleaved_latency

    return interleaved_latency


def interleaved_latencies(loaded: dict, threads: int, rounds: int, seq: int = 128) -> dict:
    """``{folder: latency fields}`` of the loaded models, timed together: in each of ``rounds`` rounds a warm call
    of every model at batch 1 and 32 (``seq`` real tokens, inputs fixed per model, through its own tokenizer), the
    models' order rotated per round. ``latency_b*_ms`` is the min over rounds, ``latency_b*_ms_median`` the
    median; the load average before and after and the torch thread count in effect are kept with them."""
    import torch

    from optimum_ro.sparse import BlockSparseLinear

    timer = _timer()
    torch.set_num_threads(threads)
    inputs = {
        f: {b: timer.fixed_inputs(tokenizer, LATENCY_TEXTS, b, seq) for b in BATCH_SIZES}
        for f, (_, tokenizer) in loaded.items()
    }
    print(f"timing {len(loaded)} models interleaved: {rounds} rounds, {threads} torch threads", file=sys.stderr)
    result = timer.time_interleaved({f: model for f, (model, _) in loaded.items()}, inputs, rounds)
    common = {
        "latency_rounds": rounds,
        "latency_method": "interleaved",
        "hardware": hardware(result["threads"]),
        "torch_threads": result["threads"],
        "load_1min": max(result["load_1min_start"], result["load_1min_end"]),
        "load_1min_start": result["load_1min_start"],
        "load_1min_end": result["load_1min_end"],
    }
    out = {}
    for f, (model, _) in loaded.items():
        b1, b1_median = timer.min_and_median(result["times_ms"][f][1])
        b32, b32_median = timer.min_and_median(result["times_ms"][f][32])
        out[f] = {
            "latency_b1_ms": b1,
            "latency_b32_ms": b32,
            "latency_b1_ms_median": b1_median,
            "latency_b32_ms_median": b32_median,
            **common,
            "model_class": type(model).__name__,
            "sparse_layers": sum(isinstance(m, BlockSparseLinear) for m in model.modules()),
        }
    return out


def measure(folders: list[Path], threads: int, rounds: int, seq: int = 128) -> dict:
    """``{folder: sizes and latency fields}``: every model loaded once, sized, then all timed interleaved."""
    loaded = load_for_timing(folders, threads)
    sizes = {f: folder_sizes(f, model) for f, (model, _) in loaded.items()}
    latency = interleaved_latencies(loaded, threads, rounds, seq)
    return {f: {**sizes[f], **latency[f]} for f in folders}


def measure_latency(folders: list[Path], threads: int, rounds: int, seq: int = 128) -> dict:
    """``{folder: latency fields}`` only (``--latency-only``): the models loaded once and timed interleaved."""
    return interleaved_latencies(load_for_timing(folders, threads), threads, rounds, seq)


def has_model(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


# ---------------------------------------------------------------- rows


def results_path(entry: dict) -> Path:
    return REPO / entry["results"] if not Path(entry["results"]).is_absolute() else Path(entry["results"])


def build_rows(entries, root: Path, previous: list[dict], threads: int, rounds: int, measure_fn=measure) -> list:
    """One row per (model, task, split) with a score; retention against the teacher's row of the same split.
    ``measure_fn(folders, threads, rounds)`` measures every run folder present in one call (so their latencies
    are timed interleaved) and returns ``{folder: fields}``; ``None`` keeps the previous numbers of every row."""
    kept = {(r["model"], r["task"]): r for r in previous}
    scored = [e for e in entries if results_path(e).is_file()]  # the rest are not run yet: the table says so
    runs = {id(e): root / e["run"] for e in scored if e.get("run") and has_model(root / e["run"])}
    folders = list(dict.fromkeys(runs.values()))
    measured_by_folder = measure_fn(folders, threads, rounds) if measure_fn is not None and folders else {}
    rows = []
    for e in scored:
        results = json.loads(results_path(e).read_text())
        scores = split_scores(e, results)
        if id(e) in runs and runs[id(e)] in measured_by_folder:
            sizes, measured = measured_by_folder[runs[id(e)]], True
        else:
            sizes, measured = kept.get((e["model"], e["task"]), {}), False
        sizes = {k: sizes.get(k) for k in MEASURED_FIELDS}
        for split, score in scores.items():
            rows.append(
                {
                    "model": e["model"],
                    "role": e["role"],
                    "teacher": e.get("teacher"),
                    "task": e["task"],
                    "split": split,
                    "metric": task_metric(e["task"], results),
                    "score": round(score, 6),
                    "retention": None,
                    "params": sizes["params"],
                    "nonzero_params": sizes["nonzero_params"],
                    "nonzero_params_no_embeddings": sizes["nonzero_params_no_embeddings"],
                    "disk_mb": sizes["disk_mb"],
                    "latency_b1_ms": sizes["latency_b1_ms"],
                    "latency_b32_ms": sizes["latency_b32_ms"],
                    "block_shape": e.get("block_shape"),
                    "sparsity": e.get("sparsity"),
                    "dtype": e.get("dtype", "float32"),
                    "hardware": sizes["hardware"],
                    "load_1min": sizes["load_1min"],
                    "measured": measured,
                    "results": e["results"],
                    "run": e.get("run"),
                    "command": e.get("command"),
                    **{k: sizes[k] for k in TIMING_DETAILS},
                }
            )
    by_key = {(r["model"], r["task"], r["split"]): r for r in rows}
    for r in rows:
        ref = by_key.get((r["teacher"], r["task"], r["split"])) if r["teacher"] else None
        if ref and ref["score"]:
            r["retention"] = round(r["score"] / ref["score"], 4)
    return rows


def retime_rows(rows: list[dict], root: Path, threads: int, rounds: int, measure_fn=measure_latency) -> list[dict]:
    """``--latency-only``: the previous rows with their latency fields replaced by a new interleaved timing of
    every run folder present (``measure_fn`` as in ``build_rows``, latency fields only); scores, sizes and rows
    whose folder is absent are kept as they are."""
    runs = {}
    for r in rows:
        if r.get("run") and has_model(root / r["run"]):
            runs[r["model"], r["task"]] = root / r["run"]
    timed = measure_fn(list(dict.fromkeys(runs.values())), threads, rounds) if runs else {}
    out = []
    for r in rows:
        folder = runs.get((r["model"], r["task"]))
        out.append(
            {**r, **{k: v for k, v in timed[folder].items() if k in LATENCY_FIELDS}} if folder in timed else dict(r)
        )
    return out


# ---------------------------------------------------------------- Markdown


def _pts(v) -> str:
    return "—" if v is None else f"{100 * v:.2f}"


def _num(v, fmt="{}") -> str:
    return "—" if v is None else fmt.format(v)


def ordered_tasks(entries) -> list[str]:
    tasks = {e["task"] for e in entries}
    return [t for t in TASK_ORDER if t in tasks] + sorted(tasks - set(TASK_ORDER))


def ordered_models(entries) -> list[str]:
    out = []
    for role in ROLES:
        for e in entries:
            if e["role"] == role and e["model"] not in out:
                out.append(e["model"])
    return out


def score_cell(rows_by_split: dict) -> str:
    """``dev / test`` in points, retention (%) after each student score; "not run" without rows."""
    if not rows_by_split:
        return "not run"
    parts = []
    for split in SPLITS:
        r = rows_by_split.get(split)
        if r is None:
            parts.append("—")
            continue
        text = _pts(r["score"])
        if r["retention"] is not None:
            text += f" ({100 * r['retention']:.1f}%)"
        parts.append(text)
    return " / ".join(parts)


def score_table(entries, rows) -> str:
    models = ordered_models(entries)
    cells = {}
    for r in rows:
        cells.setdefault((r["task"], r["model"]), {})[r["split"]] = r
    metric = {r["task"]: r["metric"] for r in rows}
    for task in ordered_tasks(entries):
        metric.setdefault(task, task_metric(task, {}))
    lines = ["| task (metric) | " + " | ".join(models) + " |", "|---|" + "---:|" * len(models)]
    for task in ordered_tasks(entries):
        label = f"{TASK_LABELS.get(task, task)} ({metric[task]})"
        row = [score_cell(cells.get((task, m), {})) for m in models]
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def latency_cell(row: dict, key: str) -> str:
    """``min (median)`` ms of an interleaved timing; the single number of a row timed before the medians were
    kept."""
    median = row.get(f"{key}_median")
    return _num(row[key]) + ("" if median is None else f" ({median})")


def size_table(entries, rows) -> str:
    head = (
        "| model | role | task | params | non-zero params | non-zero w/o embeddings | weights MB | dtype | "
        "block, sparsity | batch 1 ms, min (median) | batch 32 ms, min (median) | measured |\n"
        "|---|---|---|---:|---:|---:|---:|---|---|---:|---:|---|"
    )
    seen, lines = set(), [head]
    for r in rows:
        key = (r["model"], r["task"])
        if key in seen:
            continue
        seen.add(key)
        sparse = "—" if r["sparsity"] is None else f"{r['block_shape']}, {100 * r['sparsity']:.0f}%"
        millions = lambda v: _num(None if v is None else v / 1e6, "{:.1f} M")  # noqa: E731
        lines.append(
            f"| {r['model']} | {r['role']} | {r['task']} | {millions(r['params'])} | "
            f"{millions(r['nonzero_params'])} | "
            f"{millions(r['nonzero_params_no_embeddings'])} | {_num(r['disk_mb'])} | {r['dtype']} | {sparse} | "
            f"{latency_cell(r, 'latency_b1_ms')} | {latency_cell(r, 'latency_b32_ms')} | "
            f"{'yes' if r['measured'] else 'kept from the last run' if r['params'] is not None else 'no run folder'} |"
        )
    return "\n".join(lines)


def headline(rows, model, task):
    """The row a target reads: test where scored, else dev."""
    by_split = {r["split"]: r for r in rows if r["model"] == model and r["task"] == task}
    return by_split.get("test") or by_split.get("validation")


def root_teacher(entries, model, task):
    """The teacher at the end of ``model``'s teacher chain on ``task`` (a sparse student's dense fp32 teacher)."""
    by_key = {(e["model"], e["task"]): e for e in entries}
    e = by_key.get((model, task))
    for _ in range(len(entries)):
        if e is None or e["role"] == "teacher":
            break
        e = by_key.get((e["teacher"], task))
    return e["model"] if e else None


def _ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def targets(entries, rows) -> list[dict]:
    """Each of the issue's targets: what it asks, what was measured, ``met`` / ``missed`` / ``not run``."""
    out = []

    def add(what, measured, ok):
        out.append(
            {"target": what, "measured": measured, "status": "not run" if ok is None else "met" if ok else "missed"}
        )

    for task in ordered_tasks(entries):
        for e in [e for e in entries if e["task"] == task and e["role"] == "teacher"]:
            r = headline(rows, e["model"], task)
            split = "" if r is None or r["split"] == "test" else " (dev; test held back)"
            add(
                f"{e['model']} on {TASK_LABELS.get(task, task)}: test ≥ {TEACHER_TARGETS.get(task, '?')}",
                "—" if r is None else f"{_pts(r['score'])}{split}",
                None if r is None or task not in TEACHER_TARGETS else 100 * r["score"] >= TEACHER_TARGETS[task],
            )
    for model in ordered_models([e for e in entries if e["role"] == "student"]):
        mine = [e for e in entries if e["model"] == model]
        pairs = [(headline(rows, model, e["task"]), headline(rows, e["teacher"], e["task"])) for e in mine]
        pairs = [(s, t) for s, t in pairs if s is not None and t is not None]
        ret = [s["retention"] for s, t in pairs if s["retention"] is not None and s["split"] == t["split"]]
        mean_ret = statistics.mean(ret) if ret else None
        add(
            f"{model}: ≥ {100 * STUDENT_RETENTION:.0f}% of its teacher, averaged over tasks",
            "—" if mean_ret is None else f"{100 * mean_ret:.1f}% over {len(ret)} of {len(mine)} tasks",
            None if mean_ret is None else mean_ret >= STUDENT_RETENTION,
        )
        speed = [_ratio(t["latency_b1_ms"], s["latency_b1_ms"]) for s, t in pairs]
        speed = [v for v in speed if v is not None]
        add(
            f"{model}: ≥ {STUDENT_SPEEDUP_B1}x faster than its teacher at batch 1 (every task)",
            "—" if not speed else f"{min(speed):.2f}x–{max(speed):.2f}x",
            None if not speed else min(speed) >= STUDENT_SPEEDUP_B1,
        )
        cut = [1 - _ratio(s["params"], t["params"]) for s, t in pairs if _ratio(s["params"], t["params"]) is not None]
        add(
            f"{model}: ≥ {100 * STUDENT_PARAM_CUT:.0f}% fewer parameters than its teacher",
            "—" if not cut else f"{100 * min(cut):.0f}% fewer",
            None if not cut else min(cut) >= STUDENT_PARAM_CUT,
        )
    for model in ordered_models([e for e in entries if e["role"] == "sparse_student"]):
        mine = [e for e in entries if e["model"] == model]
        sparsity, dtype = mine[0].get("sparsity"), mine[0].get("dtype", "float32")
        limit = next(
            (v for s, v in SPARSE_POINTS_LOST.items() if sparsity is not None and abs(s - sparsity) < 0.01), None
        )
        lost = []
        for e in mine:
            s, ref = headline(rows, model, e["task"]), headline(rows, e["teacher"], e["task"])
            if s is not None and ref is not None and s["split"] == ref["split"]:
                lost.append(100 * (ref["score"] - s["score"]))
        if limit is not None:
            add(
                f"{model} ({100 * sparsity:.0f}%): ≤ {limit} point(s) lost vs its dense source",
                "—" if not lost else f"{statistics.mean(lost):.2f} points on average over {len(lost)} tasks",
                None if not lost else statistics.mean(lost) <= limit,
            )
        if dtype == "int8" and sparsity is not None and abs(sparsity - 0.9) < 0.01:
            speed = []
            for e in mine:
                s = headline(rows, model, e["task"])
                t = headline(rows, root_teacher(entries, model, e["task"]), e["task"])
                if s is not None and t is not None and _ratio(t["latency_b1_ms"], s["latency_b1_ms"]) is not None:
                    speed.append(_ratio(t["latency_b1_ms"], s["latency_b1_ms"]))
            add(
                f"{model}: ≥ {SPARSE_INT8_SPEEDUP_B1:.0f}x faster than the dense fp32 teacher at batch 1",
                "—" if not speed else f"{min(speed):.1f}x–{max(speed):.1f}x",
                None if not speed else min(speed) >= SPARSE_INT8_SPEEDUP_B1,
            )
    return out


def missing_target_rows(entries) -> list[dict]:
    """The issue's model kinds with no manifest entry at all: students and sparse students not started yet."""
    roles = {e["role"] for e in entries}
    out = []
    if "student" not in roles:
        out.append({"target": "students: ≥ 98% of teacher, ≥ 2.5x faster at batch 1, ≥ 50% fewer parameters",
                    "measured": "—", "status": "not run"})  # fmt: skip
    if "sparse_student" not in roles:
        out.append({"target": "sparse students: ≤ 1 point lost at 80%, ≤ 2 at 90%; 90% int8 ≥ 8x faster than the "
                    "dense fp32 teacher at batch 1", "measured": "—", "status": "not run"})  # fmt: skip
    return out


def load_note(rows) -> str:
    """The machine's load while the latencies were taken, and which rows an older, sequential timing left."""
    timed = [r for r in rows if r.get("latency_b1_ms") is not None]
    if not timed:
        return ""
    loads = sorted({(r.get("load_1min_start"), r.get("load_1min_end"), r.get("torch_threads"))
                    for r in timed if r.get("latency_method") == "interleaved"}, key=str)  # fmt: skip
    old = [r for r in timed if r.get("latency_method") != "interleaved"]
    text = ""
    if loads:
        runs = "; ".join(f"{a} at the start and {b} at the end with {t} torch threads" for a, b, t in loads)
        text += (
            f" The 1-minute load average of the machine was {runs} (`load_1min_start`, `load_1min_end`): where it "
            "is above the thread count, other jobs shared the cores and even the minima are slower than on a "
            "quiet machine — rerun with `--latency-only` on a quiet one to replace them."
        )
    if old:
        names = sorted({f"{r['model']} ({r['task']})" for r in old})
        text += (
            f" Kept from an earlier run, timed one model after another (the median of each model's own calls, "
            f"not comparable with the interleaved minima): {', '.join(names)}."
        )
    return text


def render(entries, rows, manifest: str, command: str, curves: list[str]) -> str:
    checks = targets(entries, rows) + missing_target_rows(entries)
    hw = sorted({r["hardware"] for r in rows if r["hardware"]})
    curve_links = " ".join(f"![{Path(c).stem}]({c})" for c in curves)
    lines = [
        "# Real models: teachers, students, sparse students",
        "",
        "Every model trained at a real budget (to its dev plateau), one row per (model, task, split) in "
        "[`summary.json`](summary.json). Scores come from each run's committed results JSON; parameters and weights "
        "on disk are measured from the run folder — where the folder is absent they are kept from the previous "
        "summary (`measured: false`). Latency: every model present is loaded once as a user loads it "
        "(`AutoModelFor*.from_pretrained(folder, trust_remote_code=True)`; sparse folders on optimum-ro's sparse "
        "kernels) and all are timed **interleaved**: each round times a warm call of every model at batch 1 and "
        "32 (128 tokens of real text, no padding, 2 torch threads by default), the models' order rotated from "
        "round to round, so a busy spell of the machine touches every model alike. The table shows the **min over "
        "rounds** in ms, the median in parentheses (`latency_b*_ms` and `latency_b*_ms_median` in summary.json).",
        "",
        f"Regenerate: `{command}` (the models, their run folders, results JSON and the command that trained "
        f"each are listed in [`{Path(manifest).name}`]({Path(manifest).name})); refresh only the latencies, "
        f"scores and sizes kept: `{command} --latency-only`.",
        "",
        "Hardware: " + ("; ".join(hw) if hw else "—") + "." + load_note(rows),
        "",
        "## Scores (task × model)",
        "",
        "Each cell: dev / test in points (test held back: —); students and sparse students carry their retention "
        "(score / their teacher's score on the same split) in parentheses; *not run* where the model has no "
        "results yet.",
        "",
        score_table(entries, rows),
        "",
        "## Sizes and latency",
        "",
        size_table(entries, rows),
        "",
        "## Targets met or missed",
        "",
        "| target | measured | status |",
        "|---|---|---|",
        *[f"| {c['target']} | {c['measured']} | {c['status']} |" for c in checks],
        "",
        "## Learning curves and compute plan",
        "",
        "Teacher learning curves, with the reading of each, and the compute plan for the remaining stages: "
        "[`teacher-curves/README.md`](teacher-curves/README.md).",
        "",
        curve_links,
        "",
        "Superseded toy-budget reports: [`archive/`](archive/README.md).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", default=str(REPO / "results" / "real-models.json"))
    ap.add_argument("--out", default=str(REPO / "results"), help="writes summary.json and README.md here")
    ap.add_argument("--root", default=str(REPO), help="the run folders' paths are relative to this folder")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the latency runs")
    ap.add_argument(
        "--rounds", type=int, default=9, help="interleaved rounds, one warm call of every model per batch size each"
    )
    ap.add_argument("--no-measure", action="store_true", help="keep the previous sizes and latencies for every model")
    ap.add_argument(
        "--latency-only",
        action="store_true",
        help="re-time the run folders of the previous summary.json rows; keep their scores and sizes",
    )
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.threads < 1:
        ap.error(f"--rounds and --threads must be at least 1; got {args.rounds} and {args.threads}")
    if args.latency_only and args.no_measure:
        ap.error("--latency-only re-times the models and --no-measure times none: pass one of them")

    out = Path(args.out)
    entries = load_manifest(Path(args.manifest))
    summary = out / "summary.json"
    previous = json.loads(summary.read_text())["rows"] if summary.is_file() else []
    if args.latency_only:
        if not previous:
            raise SystemExit(f"{summary}: no previous rows to re-time; run without --latency-only first")
        rows = retime_rows(previous, Path(args.root), args.threads, args.rounds)
    else:
        measure_fn = None if args.no_measure else measure
        rows = build_rows(entries, Path(args.root), previous, args.threads, args.rounds, measure_fn)
    out.mkdir(parents=True, exist_ok=True)
    summary.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    curves = sorted(str(p.relative_to(out)) for p in (out / "teacher-curves").glob("*.png"))
    try:
        manifest_link = str(Path(args.manifest).resolve().relative_to(out.resolve()))
    except ValueError:
        manifest_link = args.manifest
    command = "python examples/real_models_summary.py"
    (out / "README.md").write_text(render(entries, rows, manifest_link, command, curves))
    print(f"{len(rows)} rows -> {summary}; {out / 'README.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
