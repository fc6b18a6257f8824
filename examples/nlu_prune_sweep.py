"""Which pruning recipe keeps the NLU pipeline's sparse twin within 1 point of its dense self?

Prunes one dense student of ``examples/nlu_pipeline.py`` (default: the 4-layer stage-2 student on massive_ro)
with each (block shape, epochs) given, distilling from the dense self as the pipeline does (or from ``--teacher``
when a run's config ends in ``:teacher``), and writes every
run's dev scores next to the dense student's to ``results/nlu/prune-sweep.json``. Each run is a resumable stage
(``runs/nlu-prune-sweep/stages``): re-running skips the finished ones.

    python examples/nlu_prune_sweep.py --runs-config 1x4:3 16x4:6 1x4:4:teacher
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dense", default="runs/nlu-pipeline/student-s2-L4-massive_ro")
    ap.add_argument("--data", default="../shared/data/nlu/massive_ro")
    ap.add_argument("--runs", default="runs/nlu-prune-sweep")
    ap.add_argument("--out", default="results/nlu/prune-sweep.json")
    ap.add_argument("--teacher", default="runs/nlu-pipeline/teacher-s2-massive_ro", help="for runs ending ':teacher'")
    ap.add_argument("--sparsity", type=float, default=0.8)
    ap.add_argument("--runs-config", nargs="+", default=["1x4:3", "16x4:6"], help="BLOCKxSHAPE:EPOCHS[:teacher] each")
    args = ap.parse_args(argv)

    from nlu_pipeline import prune_stage

    from optimum_ro.demo.stages import StageRunner

    root = Path(args.runs)
    dense = json.loads((Path(args.dense) / "eval_results.json").read_text())
    rows = [{"model": "dense", "folder": args.dense, "dev": dense.get("dev")}]
    for item in args.runs_config:
        shape, epochs, *guide = item.split(":")
        teacher = args.teacher if guide == ["teacher"] else None
        name = f"pruned-{shape}-{epochs}ep-{int(100 * args.sparsity)}" + ("-teacher" if teacher else "")
        key = {"dense": args.dense, "block_shape": shape, "epochs": float(epochs), "sparsity": args.sparsity}
        if teacher:
            key["teacher"] = teacher
        runner = StageRunner(root, label="prune sweep")
        settings = argparse.Namespace(sparsity=args.sparsity, prune_epochs=float(epochs), student_epochs=float(epochs))
        result = runner.run(
            name,
            key,
            lambda s=settings, n=name, b=shape, t=teacher: prune_stage(s, args.dense, Path(args.data), root / n, b, t),
            root / name,
        )
        rows.append({"model": name, "pruning": result["pruning"], "dev": result["dev"], "curve": result.get("curve")})
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    base = (rows[0]["dev"] or {}).get("intent_accuracy")
    for r in rows:
        intent = (r["dev"] or {}).get("intent_accuracy")
        delta = "" if base is None or intent is None else f" ({100 * (intent - base):+.2f})"
        print(f"{r['model']}: dev intent {100 * intent:.2f}{delta}" if intent is not None else r["model"])


if __name__ == "__main__":
    main()
