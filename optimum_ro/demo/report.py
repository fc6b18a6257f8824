"""``report.json``, ``report.md`` and ``chart.png`` from the demo's report dict."""

from __future__ import annotations

import json
import platform
from pathlib import Path

LABELS = {
    "teacher": "teacher",
    "student": "student (dense)",
    "sparse-float32": "sparse fp32",
    "sparse-int8": "sparse int8",
}


def rows(report: dict) -> list[dict]:
    """One flat row per model: what the table and the chart show."""
    metric = report["metric"]
    teacher_ms = report["latency"]["models"]["teacher"]
    out = []
    for name, m in report["evaluation"]["models"].items():
        lat = report["latency"]["models"][name]
        loyal = m.get("loyalty", {})
        out.append(
            {
                "model": name,
                "dev_score": m["dev"][metric],
                "label_loyalty": loyal.get("label_loyalty", loyal.get("regression_loyalty")),
                "probability_loyalty": loyal.get("probability_loyalty", loyal.get("pearson")),
                "parameters": m["parameters"],
                "nonzero_parameters": m["nonzero_parameters"],
                "disk_mb": m["disk_mb"],
                "latency_b1_ms": lat["batch1_ms"],
                "latency_b32_ms": lat["batch32_ms"],
                "speedup_b1": round(teacher_ms["batch1_ms"] / lat["batch1_ms"], 2),
                "speedup_b32": round(teacher_ms["batch32_ms"] / lat["batch32_ms"], 2),
            }
        )
    return out


def machine() -> str:
    from ..sparse import current_isa

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, kernels {current_isa()}"


def markdown_table(report: dict) -> str:
    metric = report["metric"]
    loyal_names = ("label", "probability") if report["task_kind"] != "regression" else ("regression", "Pearson")
    head = (
        f"| model | dev {metric} | {loyal_names[0]} loyalty | {loyal_names[1]} loyalty | non-zero params | "
        "weights MB | batch 1 ms | batch 32 ms | speed-up b1 / b32 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )

    def pct(v):
        return "—" if v is None else f"{100 * v:.2f}"

    lines = [
        f"| {LABELS.get(r['model'], r['model'])} | {pct(r['dev_score'])} | {pct(r['label_loyalty'])} | "
        f"{pct(r['probability_loyalty'])} | {r['nonzero_parameters'] / 1e6:.1f} M | {r['disk_mb']} | "
        f"{r['latency_b1_ms']} | {r['latency_b32_ms']} | {r['speedup_b1']}x / {r['speedup_b32']}x |"
        for r in report["rows"]
    ]
    return "\n".join([head, *lines])


def write_chart(report: dict, path: Path) -> Path | None:
    """Score vs batch-1 latency, one point per model; None when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    for i, r in enumerate(report["rows"]):
        x, y = r["latency_b1_ms"], 100 * r["dev_score"]
        ax.scatter(x, y, s=40)
        # labels alternate above and below, so models with the same score do not overwrite each other
        ax.annotate(LABELS.get(r["model"], r["model"]), (x, y), textcoords="offset points",
                    xytext=(6, 5 if i % 2 == 0 else -13), fontsize=9)  # fmt: skip
    ax.set_xscale("log")
    ax.margins(x=0.2, y=0.15)  # room for the labels beside the outermost points
    plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.set_xlabel(
        f"latency at batch 1, seq {report['latency']['seq']}, {report['latency']['threads']} threads (ms, log)"
    )
    ax.set_ylabel(f"dev {report['metric']} (%)")
    ax.set_title(f"optimum-ro demo: {report['config']['task']}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_report(report: dict, out: Path) -> Path:
    """Write report.json, chart.png and report.md into ``out``; returns report.md's path."""
    from ..tasks.specs import get_task

    spec = get_task(report["config"]["task"])
    report["metric"], report["task_kind"] = spec.metric, spec.kind
    report["machine"] = machine()
    report["rows"] = rows(report)
    chart = write_chart(report, out / "chart.png")
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    cfg, lat, fresh = report["config"], report["latency"], report["fresh_process"]
    pruned = report["stages"]["pruned"]
    total = sum(report["stage_seconds"].values())
    text = [
        f"# optimum-ro demo: {spec.description}",
        "",
        f"Teacher `{Path(cfg['teacher']).name}` → {cfg['student_layers']}-layer student (distilled) → "
        f"{100 * pruned['sparsity']:.0f}% block-pruned ({cfg['block_shape']} blocks) → sparse fp32 "
        f"and int8, each scored on the same {report['evaluation']['dev_rows']} dev rows.",
        "",
        markdown_table(report),
        "",
        f"Machine: {report['machine']}; latency: median of {lat['rounds']} interleaved rounds, sequence "
        f"{lat['seq']}, {lat['threads']} threads. Loyalty is measured against the teacher. Stages took "
        f"{total / 60:.1f} min (per stage: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in report["stage_seconds"].items())
        + ").",
        "",
        f"`model/` ({cfg['publish_dtype']}) was loaded in a fresh Python process with "
        f"`{fresh['class'].rsplit('.', 1)[-1]}.from_pretrained(..., trust_remote_code=True)` "
        f"(kernels {'on' if fresh['kernels'] else 'off'}): {100 * fresh['same_predictions']:.0f}% of its "
        f"{fresh['units']} predictions equal those scored here (max |logit diff| {fresh['max_abs_diff']:.1e}).",
        "",
    ]
    if chart:
        text += ["![score vs latency](chart.png)", ""]
    path = out / "report.md"
    path.write_text("\n".join(text), encoding="utf-8")
    return path
