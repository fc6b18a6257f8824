"""Render ``results/nlu/`` (README.md, pipeline.json, curves PNG) from the NLU pipeline's stage records.

Everything here is computed from the records; stages not run yet show as "not run". The hand-written reading
lives in ``results/nlu/notes.md`` and is appended verbatim.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

PAPER = {"intent": -3.86, "slot": -7.01}  # FitzGerald et al. 2022: stage-2 teacher vs stage-1, relative error %
DATA_SPLIT = {"massive_ro": "dev", "ro_home": "test", "atis": "test"}  # massive_ro test is held by the maintainers


def pct(x, digits=2):
    return "–" if x is None else f"{100 * x:.{digits}f}"


def scores(record: dict | None, split: str) -> dict | None:
    return (record or {}).get(split)


def rel_change(new: float, old: float) -> float | None:
    """Relative change of the error (1 - score) in %, as the paper reports it (negative = fewer errors)."""
    e_new, e_old = 1 - new, 1 - old
    return None if e_old == 0 else 100 * (e_new - e_old) / e_old


def model_rows(r: dict, args) -> list[tuple[str, str]]:
    """(label, stage-name prefix) of every model of the report, teachers first."""
    rows = [("teacher, stage 1 (e5-small)", "teacher-s1"), ("teacher, stage 2", "teacher-s2")]
    for stage in ("s1", "s2"):
        for n in args.student_layers:
            rows.append((f"student {n}L from stage-{stage[1]} teacher", f"student-{stage}-L{n}"))
    return rows


def params_cell(sizes: dict, record: dict | None) -> str:
    """``total / without embeddings`` in millions (non-zero, from the latency stage), else the training count."""
    if sizes.get("nonzero_parameters"):
        return f"{sizes['nonzero_parameters'] / 1e6:.1f} M / {sizes['nonzero_without_embeddings'] / 1e6:.1f} M"
    total = (record or {}).get("parameters")
    return f"{total / 1e6:.1f} M" if total else "–"


def render(results: dict, args, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline.json").write_text(json.dumps(results, indent=2, default=str))
    lines = header(results, args)
    lines += mlm_section(results)
    lines += main_table(results, args)
    lines += stage2_section(results, args)
    lines += seeds_section(results, args)
    lines += sparse_section(results, args)
    lines += sweep_section(out)
    lines += general_sweep_section(out)
    lines += claims(results, args)
    curves(results, args, out)
    notes = out / "notes.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'README.md'} and {out / 'pipeline.json'}")


def header(r: dict, args) -> list[str]:
    texts = r.get("texts", {})
    base = r.get("base", {}).get("vocabulary", {})
    hw = hardware()
    return [
        "# Alexa Teacher Model pipeline on Romanian assistant data",
        "",
        "Regenerate: `python examples/nlu_pipeline.py` (or `accelerate launch examples/nlu_pipeline.py`; each "
        "stage resumes; `--report-only` re-renders this page from the finished stages). Machine: "
        f"{hw}; one torch thread per training stage; latency with 2 threads.",
        "",
        f"Teacher: multilingual-e5-small, vocabulary trimmed {base.get('before', '?'):,} → {base.get('after', '?'):,} "
        "tokens (those of the NLU train utterances and the general text). Scores in %: intent accuracy, slot F1 "
        "(seqeval, strict entity F1 over word-level BIO tags — MASSIVE's own scorer differs), semantic error "
        "rate (SER: utterances with the intent or any tag wrong). massive_ro is scored on dev (its test split is "
        "kept by the maintainers), ro_home and atis on test.",
        "",
        f"Stage-2 text: {texts.get('lines', {}).get('in_domain_train', '?'):,} in-domain utterances (massive_ro + "
        f"ro_home train) repeated {texts.get('in_domain_repeats', '?')}x to match "
        f"{texts.get('lines', {}).get('general_train', '?'):,} lines of general Romanian text "
        f"({texts.get('words', {}).get('general_train', '?'):,} words): 1:1 by words, shuffled.",
    ]


def mlm_section(r: dict) -> list[str]:
    ev = r.get("mlm-eval")
    s1, s2 = r.get("mlm-head", {}), r.get("stage2", {})
    lines = ["", "## Stage 2: continued MLM pretraining", ""]
    if not ev:
        return lines + ["not run"]
    lines += [
        "| model | training | in-domain held-out MLM loss (ppl) | general held-out MLM loss (ppl) |",
        "|---|---|---:|---:|",
    ]
    what = {
        "s1": f"e5 encoder frozen, MLM head fitted on general text ({s1.get('steps', '?')} steps)",
        "s2": f"continued MLM on the mix, all weights ({s2.get('steps', '?')} steps × 32 × 32 tokens, "
        f"{s2.get('train_seconds', 0) / 60:.0f} min)",
    }
    for stage in ("s1", "s2"):
        row = ev.get(stage, {})
        cells = [
            f"{row[k]['loss']:.3f} ({row[k]['perplexity']:.1f})" if k in row else "–"
            for k in ("in_domain_heldout", "general_heldout")
        ]
        lines.append(f"| stage {stage[1]} | {what[stage]} | {cells[0]} | {cells[1]} |")
    lines += [
        "",
        "Held-out text: massive_ro + ro_home *dev* utterances, and 1,000 general lines never trained on; "
        "the same masked positions for both models.",
    ]
    return lines


def main_table(r: dict, args) -> list[str]:
    lat = r.get("latency", {})
    head = "| model | parameters (all / without embeddings) | ms, batch 1 |"
    sep = "|---|---:|---:|"
    for d in args.datasets:
        split = DATA_SPLIT.get(d, "dev")
        head += f" {d} {split} intent | slot F1 | SER |"
        sep += "---:|---:|---:|"
    lines = ["", "## Teachers and students", "", head, sep]
    primary = args.datasets[0]
    for label, prefix in model_rows(r, args):
        rec = r.get(f"{prefix}-{primary}")
        same_size = prefix.replace("-s1", "-s2")  # one timing per architecture: stage 1 and 2 share it
        ms = lat.get(f"{prefix}-{primary}", lat.get(f"{same_size}-{primary}", {})).get("ms_b1")
        sizes = lat.get(f"{prefix}-{primary}", lat.get(f"{same_size}-{primary}", {}))
        row = f"| {label} | {params_cell(sizes, rec)} | {'–' if ms is None else f'{ms:.1f}'} |"
        for d in args.datasets:
            s = scores(r.get(f"{prefix}-{d}"), DATA_SPLIT.get(d, "dev"))
            row += (
                " not run | | |"
                if s is None
                else f" {pct(s['intent_accuracy'])} | {pct(s['slot_f1'])} | {pct(s['semantic_error_rate'])} |"
            )
        lines.append(row)
    lines += [
        "",
        "Parameters: non-zero, with the trimmed vocabulary's embeddings / without any embeddings. Latency: median per "
        "utterance over 100 massive_ro dev utterances, one at a time, unpadded, 2 torch threads.",
    ]
    return lines


def stage2_section(r: dict, args) -> list[str]:
    lines = ["", "## Did stage 2 help? (relative error change, stage 2 vs stage 1)", ""]
    lines += [
        "| models | data | intent error | slot error (1 − F1) | paper (intent / slot) |",
        "|---|---|---:|---:|---|",
    ]
    pairs = [("teachers", "teacher-s1", "teacher-s2")] + [
        (f"students {n}L", f"student-s1-L{n}", f"student-s2-L{n}") for n in args.student_layers
    ]
    any_row = False
    for label, a, b in pairs:
        for d in args.datasets:
            split = DATA_SPLIT.get(d, "dev")
            s1, s2 = scores(r.get(f"{a}-{d}"), split), scores(r.get(f"{b}-{d}"), split)
            if not (s1 and s2):
                continue
            any_row = True
            ci = rel_change(s2["intent_accuracy"], s1["intent_accuracy"])
            cs = rel_change(s2["slot_f1"], s1["slot_f1"])
            fmt = lambda x: "–" if x is None else f"{x:+.2f}%"  # noqa: E731
            paper = f"{PAPER['intent']:+.2f}% / {PAPER['slot']:+.2f}%" if label == "teachers" else ""
            lines.append(f"| {label} | {d} {split} | {fmt(ci)} | {fmt(cs)} | {paper} |")
    return lines if any_row else lines + ["| not run | | | | |"]


def seeds_section(r: dict, args) -> list[str]:
    primary, n = args.datasets[0], min(args.student_layers)
    lines = ["", f"## Seeds: the {n}-layer student on {primary} dev", ""]
    lines += [
        "| teacher | seeds | intent accuracy mean ± sd (min–max) | slot F1 mean ± sd (min–max) |",
        "|---|---:|---|---|",
    ]
    for stage in ("s1", "s2"):
        runs = []
        for seed in args.seeds:
            suffix = "" if seed == args.seeds[0] else f"-seed{seed}"
            s = scores(r.get(f"student-{stage}-L{n}-{primary}{suffix}"), "dev")
            if s:
                runs.append(s)
        if not runs:
            lines.append(f"| stage {stage[1]} | 0 | not run | |")
            continue

        def spread(key):
            xs = [100 * x[key] for x in runs]
            sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
            return f"{statistics.mean(xs):.2f} ± {sd:.2f} ({min(xs):.2f}–{max(xs):.2f})"

        lines.append(f"| stage {stage[1]} | {len(runs)} | {spread('intent_accuracy')} | {spread('slot_f1')} |")
    return lines


def sparse_section(r: dict, args) -> list[str]:
    primary = args.datasets[0]
    dense_name = f"student-s2-L{args.prune_layers}-{primary}"
    pruned_name = f"pruned-s2-L{args.prune_layers}-{primary}"
    lat = r.get("latency", {})
    pruning = (r.get(pruned_name) or {}).get("pruning") or {}
    block = pruning.get("block_shape", getattr(args, "prune_block", "?"))
    guide = "its dense self" if pruning.get("teacher", dense_name).endswith(dense_name) else "the stage-2 teacher"
    lines = [
        "",
        f"## Sparse student: {args.prune_layers} layers, {int(100 * args.sparsity)}% of encoder blocks pruned",
        "",
    ]
    lines += [
        "| model | dev intent | dev slot F1 | dev SER | non-zero params (all / w/o embeddings) | ms, batch 1 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, name in (
        ("dense student (stage-2 teacher)", dense_name),
        (f"pruned, dense weights ({block} blocks, distilled from {guide})", pruned_name),
        (f"sparse fp32 ({block} kernel)", "sparse-fp32"),
        (f"sparse int8 ({block} kernel)", "sparse-int8"),
    ):
        s = scores(r.get(name), "dev")
        ms = lat.get(name, {}).get("ms_b1")
        if s is None:
            lines.append(f"| {label} | not run | | | | |")
            continue
        lines.append(
            f"| {label} | {pct(s['intent_accuracy'])} | {pct(s['slot_f1'])} | {pct(s['semantic_error_rate'])} | "
            f"{params_cell(lat.get(name, {}), r.get(name))} | {'–' if ms is None else f'{ms:.1f}'} |"
        )
    return lines


def sweep_rows(out: Path, name: str) -> list[dict]:
    """The rows a sweep script wrote beside this report (``<name>.json``), or none if it has not run."""
    path = out / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else []


def sweep_section(out: Path) -> list[str]:
    """The pruning sweep's rows (``examples/nlu_prune_sweep.py``), if run."""
    rows = sweep_rows(out, "prune-sweep")
    if not rows:
        return []
    base = (rows[0].get("dev") or {}).get("intent_accuracy") if rows else None
    lines = ["", "### Pruning recipes (`examples/nlu_prune_sweep.py`)", ""]
    lines += [
        "| run | block shape | distilled from | steps | dev intent | Δ vs dense | dev slot F1 |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        dev, pruning = r.get("dev") or {}, r.get("pruning") or {}
        intent = dev.get("intent_accuracy")
        delta = "" if intent is None or base is None or r is rows[0] else f"{100 * (intent - base):+.2f}"
        guide = pruning.get("teacher") or rows[0].get("folder")
        guide = "–" if r is rows[0] else ("dense self" if guide == rows[0].get("folder") else Path(guide).name)
        lines.append(
            f"| {r['model']} | {pruning.get('block_shape', '–')} | {guide} | {pruning.get('steps', '–')} | "
            f"{pct(intent)} | {delta} | {pct(dev.get('slot_f1'))} |"
        )
    return lines


def general_sweep_section(out: Path) -> list[str]:
    """The smallest student against its pretraining-distillation budget (``examples/nlu_general_sweep.py``)."""
    rows = sweep_rows(out, "general-sweep")
    if not rows:
        return []
    lines = ["", "### Smallest student vs pretraining-distillation budget (`examples/nlu_general_sweep.py`)", ""]
    lines += [
        "| general-distillation steps | tokens | dev intent | dev slot F1 | dev SER |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        dev = r.get("dev") or {}
        lines.append(
            f"| {r['general_steps']} | {r['general_tokens'] / 1e6:.2f} M | {pct(dev.get('intent_accuracy'))} | "
            f"{pct(dev.get('slot_f1'))} | {pct(dev.get('semantic_error_rate'))} |"
        )
    return lines


def claims(r: dict, args) -> list[str]:
    primary = args.datasets[0]
    lines = ["", "## Targets", ""]

    def get(name):
        return scores(r.get(name), DATA_SPLIT.get(primary, "dev"))

    t1, t2 = get(f"teacher-s1-{primary}"), get(f"teacher-s2-{primary}")
    if t1:
        ok = t1["intent_accuracy"] >= 0.85 and t1["slot_f1"] >= 0.70
        lines.append(
            f"- e5-small teacher on {primary}: intent {pct(t1['intent_accuracy'])} (≥ 85), slot F1 "
            f"{pct(t1['slot_f1'])} (≥ 70): {'met' if ok else 'missed'}."
        )
    if t1 and t2:
        ci = rel_change(t2["intent_accuracy"], t1["intent_accuracy"])
        cs = rel_change(t2["slot_f1"], t1["slot_f1"])
        lines.append(
            f"- Stage 2 vs stage 1 teacher, relative error: intent {ci:+.2f}%, slot {cs:+.2f}% "
            f"(paper: {PAPER['intent']:+.2f}% / {PAPER['slot']:+.2f}%)."
        )
        best = [
            (n, get(f"student-s2-L{n}-{primary}")) for n in args.student_layers if get(f"student-s2-L{n}-{primary}")
        ]
        beats = [n for n, s in best if s["intent_accuracy"] > t1["intent_accuracy"]]
        lines.append(
            f"- A stage-2 student beating the stage-1 teacher on intent accuracy: "
            f"{', '.join(f'{n}L' for n in beats) if beats else 'none'}."
        )
    n = min(args.student_layers)
    small = get(f"student-s2-L{n}-{primary}")
    if t1 and small:
        gap = 100 * (t1["intent_accuracy"] - small["intent_accuracy"])
        lines.append(
            f"- Smallest student ({n} layers) within 2 points of the stage-1 teacher on intent accuracy: "
            f"{gap:+.2f} points behind: {'met' if gap <= 2 else 'missed'}."
        )
        rows = [
            r for r in sweep_rows(Path(args.report), "general-sweep") if (r.get("dev") or {}).get("intent_accuracy")
        ]
        if rows:
            best = max(rows, key=lambda r: r["dev"]["intent_accuracy"])
            gap = 100 * (t1["intent_accuracy"] - best["dev"]["intent_accuracy"])
            lines.append(
                f"  With {best['general_steps']} general-distillation steps (the best of the sweep above) it is "
                f"{gap:+.2f} points behind: {'met' if gap <= 2 else 'missed'}."
            )
    dense = get(f"student-s2-L{args.prune_layers}-{primary}")
    for dtype in ("fp32", "int8"):
        sp = get(f"sparse-{dtype}")
        if dense and sp:
            loss = 100 * (dense["intent_accuracy"] - sp["intent_accuracy"])
            lines.append(
                f"- {int(100 * args.sparsity)}% sparse {dtype} student within 1 point of its dense self (intent): "
                f"{-loss:+.2f} points against it: {'met' if loss <= 1 else 'missed'}."
            )
    return lines if len(lines) > 3 else lines + ["- not run yet"]


def curves(r: dict, args, out: Path) -> None:
    primary = args.datasets[0]
    series = {
        label: r.get(f"{prefix}-{primary}", {}).get("curve")
        for label, prefix in (("teacher stage 1", "teacher-s1"), ("teacher stage 2", "teacher-s2"))
    }
    series = {k: v for k, v in series.items() if v}
    if not series:
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), dpi=120)
    for label, pts in series.items():
        for ax, key in zip(axes, ("intent_accuracy", "slot_f1")):
            ax.plot([p["epoch"] for p in pts], [100 * p[key] for p in pts], marker="o", label=label)
    for ax, title in zip(axes, ("intent accuracy (%)", "slot F1 (%)")):
        ax.set_xlabel("epoch")
        ax.set_title(f"{primary} dev {title}")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "teacher-curves.png")


def hardware() -> str:
    try:
        from optimum_ro.demo.report import machine

        return machine()
    except Exception:  # the renderer must work where optimum_ro's report helpers are not importable
        return "unknown CPU"
