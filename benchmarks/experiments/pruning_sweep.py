"""Task score vs block sparsity: run a grid of pruning runs, then regenerate the table and the plot.

    python examples/pruning_sweep.py run --model runs/student --teacher runs/teachers/e5-small \\
        --tasks sentiment pos ner --sparsities 0 0.5 0.7 0.8 0.9 --block-shapes 16x1 1x4 \\
        --criteria magnitude movement --distill no yes --max-steps 600
    python examples/pruning_sweep.py report    # results/archive/pruning/runs.json (+ notes.md) -> README.md + PNG

``--max-steps 0`` prunes one-shot (magnitude, no retraining) and only evaluates: a quick look at how much each
block shape hurts before any recovery. ``--model`` / ``--teacher`` may be one folder holding one sub-folder per task
(``<model>/<task>``, as written by ``optimum-ro finetune``) or a single model folder. Each finished run is appended
to ``runs.json`` at once, so an interrupted sweep continues where it stopped; pruned weights are deleted unless
``--keep-models``.
Variants that become lines of their own: ``--seed N`` (several seeds are averaged), ``--scope global`` (blocks
ranked across layers: criterion 'movement global'), ``--alpha-cos W --hidden-layer-map S:T ...`` (hidden states
distilled too: teacher 'yes + hidden'). To prune a trained dense student while it distils from itself (the
recipe that met NER with 16x1 blocks, results/archive/pruning/self-distill/): a dense run (``--sparsities 0``) with
``--keep-models``, then ``--model <its folder> --teacher <its folder>`` for the pruned runs and for a dense
baseline trained as long; keep each stage's runs in its own file, since the report averages every dense run
of a schedule it is given.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import time
from pathlib import Path

RESULTS = Path("results/archive/pruning")


DEFAULT_SEED = 42  # PruneTaskConfig's; runs written before --seed existed used it


def run_key(row: dict) -> tuple:
    return (
        row["task"],
        row["block_shape"],
        row["criterion"],
        bool(row["distilled"]),
        round(row["target"], 4),
        row.get("seed", DEFAULT_SEED),
        row.get("alpha_cos", 0.0),
        tuple(row.get("hidden_layer_map") or ()),
    )


def _model_for(path: str | None, task: str) -> str | None:
    if path is None:
        return None
    sub = Path(path) / task
    return str(sub) if (sub / "config.json").is_file() else path


def run_sweep(args) -> list[dict]:
    from optimum_ro.pruning import BlockPruningConfig
    from optimum_ro.pruning.cli import PruneTaskConfig, prune_task
    from optimum_ro.tasks import get_task

    runs_file = Path(args.runs)
    rows = json.loads(runs_file.read_text()) if runs_file.is_file() else []
    done = {run_key(r) for r in rows}
    grid = itertools.product(args.tasks, args.distill, args.sparsities, args.block_shapes, args.criteria)
    for task, distill, sparsity, shape, criterion in grid:
        if sparsity == 0 and (shape, criterion) != (args.block_shapes[0], args.criteria[0]):
            continue  # the dense run is shared by every line of the plot
        distilled = distill == "yes"
        if args.max_steps == 0 and (criterion != "magnitude" or distilled):
            continue  # one-shot pruning: magnitude only, nothing to distil
        label = "magnitude one-shot" if args.max_steps == 0 else criterion
        if args.scope == "global" and sparsity > 0:  # a dense run has no blocks to rank: the same run either way
            label += " global"
        row = {
            "task": task,
            "block_shape": shape,
            "criterion": label,
            "distilled": distilled,
            "target": sparsity,
            "seed": args.seed,
        }
        hidden = distilled and args.alpha_cos > 0  # the hidden-state loss needs the teacher
        if hidden:
            row.update(alpha_cos=args.alpha_cos, hidden_layer_map=args.hidden_layer_map)
        if run_key(row) in done:
            continue
        if distilled and not args.teacher:
            raise SystemExit("--distill yes needs --teacher")
        spec = get_task(task)
        name = (
            f"{task}-{shape}-{label.replace(' ', '-')}-{'kd' if distilled else 'ft'}{'-hidden' if hidden else ''}"
            f"-{int(round(sparsity * 100))}" + (f"-seed{args.seed}" if args.seed != DEFAULT_SEED else "")
        )
        out = Path(args.work) / name
        pruning = BlockPruningConfig(
            block_shape=shape,
            target_sparsity=sparsity,
            criterion=criterion,
            scope=args.scope,
            start_step=0 if criterion == "magnitude" else max(1, args.max_steps // 20),
            end_step=int(0.7 * args.max_steps),
            pruning_frequency=max(1, args.max_steps // 50),
        )
        cfg = PruneTaskConfig(
            model=_model_for(args.model, task),
            task=task,
            data=str(Path(args.data) / spec.folder) if args.data else None,
            output_dir=str(out),
            teacher=_model_for(args.teacher, task) if distilled else None,
            max_steps=args.max_steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            max_length=args.max_length,
            max_train_samples=args.max_train_samples,
            max_eval_samples=args.max_eval_samples,
            save_steps=10**9,
            seed=args.seed,
            eval_splits=("validation",),
            alpha_cos=args.alpha_cos if hidden else 0.0,
            hidden_layer_map=tuple(args.hidden_layer_map) if hidden and args.hidden_layer_map else None,
        )
        start = time.time()
        result = prune_task(cfg, pruning)
        row.update(
            {
                "metric": spec.metric,
                "score": result["validation"].get(spec.metric),
                "sparsity": result["sparsity"],
                "train_seconds": result["train_seconds"],
                "seconds": round(time.time() - start, 1),
                "model": cfg.model,
                "teacher": cfg.teacher,
                "max_steps": args.max_steps,
                "max_train_samples": args.max_train_samples,
                "max_eval_samples": args.max_eval_samples,
            }
        )
        rows.append(row)
        runs_file.parent.mkdir(parents=True, exist_ok=True)
        runs_file.write_text(json.dumps(rows, indent=1))
        print(
            f"{name}: {spec.metric}={row['score']:.4f} sparsity={row['sparsity']:.3f} ({row['seconds']} s)", flush=True
        )
        if not args.keep_models:
            shutil.rmtree(out, ignore_errors=True)
    return rows


def steps_of(row: dict):
    """The run's schedule (its step count): runs of different schedules are never compared with each other."""
    return row.get("max_steps")


def teacher_of(row: dict) -> str:
    """The run's teacher setting: 'no', 'yes' (soft targets) or 'yes + hidden' (soft targets and the cosine loss on
    hidden states); each is its own line, measured against the dense run of the same setting where there is one."""
    if not row["distilled"]:
        return "no"
    return "yes + hidden" if row.get("alpha_cos") else "yes"


def points_of(rows: list[dict]) -> dict:
    """``{(task, block_shape, criterion, teacher, steps): {target: (score, seeds)}}``: a point run with several
    seeds is their mean, ``seeds`` says how many. The dense run (0%) of the same task and schedule joins every
    line, the one with the same teacher setting if there is one, else a distilled one, else the plain one."""

    def mean(rs):
        xs = [r["score"] for r in rs if r["score"] is not None]
        return (sum(xs) / len(xs) if xs else None), len({r.get("seed", DEFAULT_SEED) for r in rs})

    runs: dict = {}
    dense_runs: dict = {}
    for r in rows:
        if r["target"] > 0:
            key = (r["task"], r["block_shape"], r["criterion"], teacher_of(r), steps_of(r))
            runs.setdefault(key, {}).setdefault(r["target"], []).append(r)
        else:
            dense_runs.setdefault((r["task"], teacher_of(r), steps_of(r)), []).append(r)
    lines = {key: {t: mean(v) for t, v in points.items()} for key, points in runs.items()}
    for (task, _, _, teacher, steps), points in lines.items():
        # the dense model trained as long as the pruned ones, with the same teacher setting if possible
        for setting in (teacher, "yes", "yes + hidden", "no"):
            if (task, setting, steps) in dense_runs:
                points[0.0] = mean(dense_runs[(task, setting, steps)])
                break
    return lines


def lines_of(rows: list[dict]) -> dict:
    """``{(task, block_shape, criterion, teacher, steps): {target: score}}`` (``points_of`` without the seeds)."""
    return {key: {t: score for t, (score, _) in points.items()} for key, points in points_of(rows).items()}


def several_schedules(rows: list[dict]) -> bool:
    return len({steps_of(r) for r in rows}) > 1


def markdown_table(rows: list[dict]) -> str:
    lines = points_of(rows)
    targets = sorted({r["target"] for r in rows})
    multi = several_schedules(rows)  # then a steps column tells the schedules apart
    head = (
        "| task | metric | blocks | criterion | teacher | "
        + ("steps | " if multi else "")
        + " | ".join(f"{t:.0%}" for t in targets)
        + " | Δ at max |"
    )
    out = [head, "|" + "---|" * (6 + multi + len(targets))]
    metric = {r["task"]: r.get("metric", "score") for r in rows}
    for (task, shape, criterion, teacher, steps), seeded in sorted(lines.items(), key=str):
        points = {t: score for t, (score, _) in seeded.items()}
        cells = [
            (f"{100 * points[t]:.1f}" + (f" (mean of {seeded[t][1]} seeds)" if seeded[t][1] > 1 else ""))
            if points.get(t) is not None
            else "–"
            for t in targets
        ]
        top = max(points)
        delta = (
            f"{100 * (points[top] - points[0.0]):+.1f}"
            if 0.0 in points and points[top] is not None and points[0.0] is not None
            else "–"
        )
        out.append(
            f"| {task} | {metric[task]} | {shape} | {criterion} | {teacher} | "
            + (f"{steps} | " if multi else "")
            + " | ".join(cells)
            + f" | {delta} |"
        )
    return "\n".join(out)


TEACHER_LABEL = {"no": "", "yes": " + teacher", "yes + hidden": " + teacher (hidden states)"}
LINE_STYLE = {"no": "--", "yes": "-", "yes + hidden": ":"}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = lines_of(rows)
    tasks = sorted({key[0] for key in lines})
    fig, axes = plt.subplots(1, max(1, len(tasks)), figsize=(5 * max(1, len(tasks)), 4), squeeze=False)
    metric = {r["task"]: r.get("metric", "score") for r in rows}
    shapes = sorted({key[1] for key in lines})
    color = {shape: f"C{i}" for i, shape in enumerate(shapes)}  # one colour per block shape
    criteria = sorted({key[2] for key in lines})
    marker = {c: "osD^v"[i % 5] for i, c in enumerate(criteria)}  # one marker per criterion
    multi = several_schedules(rows)  # then the legend names each line's schedule
    for ax, task in zip(axes[0], tasks):
        for (t, shape, criterion, teacher, steps), points in sorted(lines.items(), key=str):
            if t != task:
                continue
            xs = sorted(x for x in points if points[x] is not None)
            ax.plot(
                [100 * x for x in xs],
                [100 * points[x] for x in xs],
                marker=marker[criterion],
                color=color[shape],
                linestyle=LINE_STYLE[teacher],
                label=f"{shape} {criterion}{TEACHER_LABEL[teacher]}" + (f", {steps} steps" if multi else ""),
            )
        ax.set_title(task)
        ax.set_xlabel("block sparsity (%)")
        ax.set_ylabel(f"{metric[task]} (validation, %)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def target_lines(rows: list[dict]) -> list[str]:
    """The issue's targets, for every line pruned while distilling: <= 1 point lost at 80%, <= 2 at 90%."""
    out = []
    multi = several_schedules(rows)
    for (task, shape, criterion, teacher, steps), points in sorted(points_of(rows).items(), key=str):
        if teacher == "no" or points.get(0.0, (None,))[0] is None:
            continue
        for target, allowed in ((0.8, 1.0), (0.9, 2.0)):
            if points.get(target, (None,))[0] is None:
                continue
            (dense, n_dense), (pruned, n_pruned) = points[0.0], points[target]
            lost = 100 * (dense - pruned)
            out.append(
                f"- {task}, {shape}, "
                f"{criterion}{TEACHER_LABEL[teacher]}{f', {steps} steps' if multi else ''}, {target:.0%}"
                + (f" (seeds: {n_pruned} pruned, {n_dense} dense)" if max(n_pruned, n_dense) > 1 else "")
                + ": "
                f"{lost:+.1f} points lost (target ≤ {allowed:.0f}: "
                f"**{'met' if round(lost, 6) <= allowed else 'missed'}**)"
            )
    return out


def runs_argument(files, out_dir: Path) -> str:
    """The ``--runs`` of the regenerate command: ``<out_dir>/runs*.json`` when that glob is exactly these files."""
    if len(files) > 1 and {Path(f).resolve() for f in files} == {
        f.resolve() for f in Path(out_dir).glob("runs*.json")
    }:
        return f"{out_dir}/runs*.json"
    return " ".join(str(f) for f in files)


def write_report(runs_files, out_dir: Path) -> str:
    """Write ``out_dir/README.md`` (table, plot, targets, setup, then ``out_dir/notes.md`` if present) and the PNG.
    ``runs_files``: one ``runs.json`` or several (e.g. one per parallel sweep)."""
    files = [runs_files] if isinstance(runs_files, (str, Path)) else list(runs_files)
    rows = [row for f in files for row in json.loads(Path(f).read_text())]
    out_dir = Path(out_dir)
    notes = Path(out_dir) / "notes.md"
    note = notes.read_text() if notes.is_file() else ""
    plot(rows, out_dir / "sparsity.png")
    setup = sorted(
        {(r.get("model"), r.get("max_steps"), r.get("max_train_samples"), r.get("max_eval_samples")) for r in rows},
        key=str,
    )
    text = "\n".join(
        [
            "# Task score vs block sparsity",
            "",
            "Regenerate: `python examples/pruning_sweep.py report "
            f"--runs {runs_argument(files, out_dir)} --out {out_dir}` "
            "(writes this file and `sparsity.png`).",
            "Scores are on the validation split, in %; 'Δ at max' is the change from the dense run at the highest "
            "sparsity of the row. Sparsity = fraction of pruned blocks in the encoder's linear layers.",
            "",
            markdown_table(rows),
            "",
            "![score vs sparsity](sparsity.png)",
            "",
            "## Targets (pruning with distillation)",
            "",
            *(target_lines(rows) or ["- no distilled line with a dense point yet"]),
            "",
            "Runs (model, max_steps, train samples, eval samples): "
            + "; ".join(f"{m} / {s} / {tr} / {ev}" for m, s, tr, ev in setup),
            "",
            note,
        ]
    )
    (out_dir / "README.md").write_text(text.rstrip() + "\n")
    return text


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--model", required=True)
    r.add_argument("--teacher")
    r.add_argument("--data", help="folder with one sub-folder per task (default: the task loader's default)")
    r.add_argument("--tasks", nargs="+", default=["sentiment"])
    r.add_argument("--sparsities", nargs="+", type=float, default=[0.0, 0.5, 0.7, 0.8, 0.9])
    r.add_argument("--block-shapes", nargs="+", default=["16x1", "1x4"])
    r.add_argument("--criteria", nargs="+", default=["magnitude"])
    r.add_argument("--distill", nargs="+", choices=["no", "yes"], default=["no"])
    r.add_argument("--max-steps", type=int, default=300)
    r.add_argument("--batch-size", type=int, default=16)
    r.add_argument("--learning-rate", type=float, default=5e-5)
    r.add_argument("--max-length", type=int, default=128)
    r.add_argument("--max-train-samples", type=int)
    r.add_argument("--max-eval-samples", type=int)
    r.add_argument("--runs", default=str(RESULTS / "runs.json"))
    r.add_argument("--work", default="runs/pruning-sweep")
    r.add_argument("--keep-models", action="store_true")
    r.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="training seed (data order, subset, dropout); runs of several seeds are averaged in the report",
    )
    r.add_argument(
        "--scope",
        choices=["local", "global"],
        default="local",
        help="rank blocks inside each layer (local) or across layers (global: the same overall sparsity, "
        "spread where it hurts least; the criterion reads e.g. 'movement global')",
    )
    r.add_argument(
        "--alpha-cos",
        type=float,
        default=0.0,
        help="with --distill yes: weight of the cosine loss between student and teacher hidden states "
        "(a separate line of the report, 'yes + hidden')",
    )
    r.add_argument(
        "--hidden-layer-map",
        nargs="+",
        metavar="S:T",
        help="hidden-state pairs student:teacher for --alpha-cos, e.g. 1:2 2:4 (default -1:-1)",
    )
    g = sub.add_parser("report")
    g.add_argument("--runs", nargs="+", default=[str(RESULTS / "runs.json")], help="one or more runs files")
    g.add_argument("--out", default=str(RESULTS))
    args = p.parse_args(argv)
    if args.cmd == "run":
        run_sweep(args)
        others = sorted(p for p in Path(args.runs).parent.glob("runs*.json") if p != Path(args.runs))
        write_report([Path(args.runs), *others], Path(args.runs).parent)  # parallel sweeps share one report
    else:
        print(write_report(args.runs, Path(args.out)))


if __name__ == "__main__":
    main()
