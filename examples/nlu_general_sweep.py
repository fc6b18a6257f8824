"""How far does longer pretraining distillation carry the NLU pipeline's smallest student?

General-distils an n-layer student from one stage's MLM model of ``examples/nlu_pipeline.py`` (default: the
2-layer student of the stage-2 model) for each step budget given, on the pipeline's in-domain + general mix,
then distils each into a joint intent + slot student on massive_ro from that stage's fine-tuned teacher, and
writes every budget's dev scores to ``results/nlu/general-sweep.json`` (the pipeline's own 200-step student
first). Each budget is a resumable stage (``runs/nlu-general-sweep/stages``).

    python examples/nlu_general_sweep.py --steps 600 1200
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pipeline", default="runs/nlu-pipeline", help="the finished pipeline's run folder")
    ap.add_argument("--stage", choices=("s1", "s2"), default="s2")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--data", default="../shared/data/nlu/massive_ro")
    ap.add_argument("--runs", default="runs/nlu-general-sweep")
    ap.add_argument("--out", default="results/nlu/general-sweep.json")
    ap.add_argument("--steps", nargs="+", type=int, default=[600, 1200], help="general-distillation steps each")
    ap.add_argument("--student-epochs", type=float, default=3.0)
    args = ap.parse_args(argv)

    from nlu_pipeline import MLM_LENGTH, general_distill_stage, student_stage

    from optimum_ro.demo.stages import StageRunner

    pipeline, root, data = Path(args.pipeline), Path(args.runs), Path(args.data)
    texts = json.loads((pipeline / "stages" / "texts.json").read_text())["result"]
    mlm = str(pipeline / ("mlm-head" if args.stage == "s1" else "stage2"))
    teacher = str(pipeline / f"teacher-{args.stage}-{data.name}")
    name = f"student-{args.stage}-L{args.layers}-{data.name}"
    base = json.loads((pipeline / name / "eval_results.json").read_text())
    general_steps = json.loads((pipeline / "stages" / f"general-{args.stage}-L{args.layers}.json").read_text())
    steps = general_steps["result"]["train"]["steps"]
    rows = [{"general_steps": steps, "general_tokens": steps * 32 * MLM_LENGTH, "from": "pipeline"}]
    rows[0] |= {"folder": str(pipeline / name), "dev": base.get("dev")}
    runner = StageRunner(root, label="general sweep")
    for steps in args.steps:
        settings = argparse.Namespace(general_distill_steps=steps, student_epochs=args.student_epochs)
        general = f"general-{args.stage}-L{args.layers}-{steps}"
        runner.run(
            general,
            {"mlm": mlm, "layers": args.layers, "steps": steps},
            lambda s=settings, g=general: general_distill_stage(s, mlm, texts, args.layers, root / g),
            root / general,
        )
        student = f"{name}-{steps}"
        result = runner.run(
            student,
            {"teacher": teacher, "general": general, "epochs": args.student_epochs},
            lambda s=settings, g=general, n=student: student_stage(
                s, teacher, str(root / g), data, root / n, 42, epochs=args.student_epochs
            ),
            root / student,
        )
        rows.append({"general_steps": steps, "general_tokens": steps * 32 * MLM_LENGTH, "folder": str(root / student)})
        rows[-1] |= {"dev": result["dev"], "curve": result.get("curve")}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    for r in rows:
        dev = r["dev"] or {}
        print(f"{r['general_steps']} general steps: dev intent {100 * dev.get('intent_accuracy', 0):.2f}")


if __name__ == "__main__":
    main()
