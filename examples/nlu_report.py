"""Table of joint intent + slot runs (``optimum-ro finetune-nlu`` folders): README.md + nlu.json in --out.

    python examples/nlu_report.py runs/nlu/* --out results/archive/nlu-ground

Reads each folder's ``eval_results.json``; a ``notes.md`` in ``--out`` is appended as the hand-written reading.
"""

import argparse
import json
import platform
from pathlib import Path


def cpu_name() -> str:
    info = Path("/proc/cpuinfo")
    names = (
        [line.split(":", 1)[1].strip() for line in info.read_text().splitlines() if line.startswith("model name")]
        if info.exists()
        else []
    )
    return names[0] if names else platform.machine()


def row(name: str, r: dict) -> str:
    cells = []
    for split in ("dev", "test"):
        s = r.get(split)
        cells += (
            [f"{100 * s[k]:.2f}" for k in ("intent_accuracy", "slot_f1", "semantic_accuracy", "semantic_error_rate")]
            if s
            else ["–"] * 4
        )
    return (
        f"| {name} | {Path(r['data']).name} | {r['parameters'] / 1e6:.1f} M | {r['train_steps']} × "
        f"{r['config']['batch_size']} | {r['train_seconds'] / 60:.1f} min | " + " | ".join(cells) + " |"
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--out", default="results/archive/nlu-ground")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = {
        Path(p).name: json.loads((Path(p) / "eval_results.json").read_text())
        for p in sorted(args.runs)
        if (Path(p) / "eval_results.json").exists()
    }
    (out / "nlu.json").write_text(json.dumps(runs, indent=2))
    lines = [
        "# Joint intent classification + slot filling",
        "",
        "Regenerate: `python examples/nlu_report.py runs/nlu/* "
        f"--out {args.out}` after `optimum-ro finetune-nlu` runs "
        "(one per row). Scores in %: intent accuracy, slot F1 (seqeval entity F1 over word-level BIO tags), semantic "
        "accuracy (intent and every tag right) and semantic error rate (SER = 100 − semantic accuracy). Machine: "
        f"{cpu_name()}, one torch thread per run, several runs at once.",
        "",
        "| run | data | parameters | steps × batch | train time | dev intent | dev slot F1 | dev semantic | dev SER | "
        "test intent | test slot F1 | test semantic | test SER |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(row(name, r) for name, r in runs.items()),
        "",
    ]
    if (out / "notes.md").exists():
        lines.append((out / "notes.md").read_text(encoding="utf-8"))
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
    print((out / "README.md").read_text())


if __name__ == "__main__":
    main()
