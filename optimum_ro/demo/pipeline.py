"""The demo's stages, in order: teacher -> student -> pruned student -> sparse (fp32, int8) -> measured.

Each stage is one call of the library's own entry points (``finetune``, ``run_distillation``, ``prune_task``,
``sparsify``), so the demo shows what a user would run; :class:`StageRunner` makes each one resumable.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from .config import DemoConfig
from .stages import StageRunner

#: sparse storage dtype -> the block shape of its fast kernel (see optimum_ro.sparse)
KERNEL_BLOCKS = {"float32": "16x1", "int8": "1x4"}
MODEL_NAMES = ("teacher", "student", "sparse-float32", "sparse-int8")


def _common(cfg: DemoConfig) -> dict:
    return dict(
        task=cfg.task,
        data=cfg.data,
        seed=cfg.seed,
        batch_size=cfg.batch_size,
        max_length=cfg.max_length,
        train_samples=cfg.train_samples,
    )


def check_task_teacher(folder: str, task) -> str:
    """``folder`` if it holds a model with the task's head (for ``teacher_steps=0``), else a one-line error."""
    from transformers import AutoConfig

    from ..tasks.specs import get_task

    spec = get_task(task)
    if not Path(folder).is_dir():
        raise ValueError(f"teacher_steps=0 uses the teacher as it is: {folder} must be a fine-tuned model folder")
    config = AutoConfig.from_pretrained(folder)
    head = "ForTokenClassification" if spec.kind == "token" else "ForSequenceClassification"
    arch = (getattr(config, "architectures", None) or ["?"])[0]
    if not arch.endswith(head) or config.num_labels != spec.num_labels:
        raise ValueError(
            f"teacher_steps=0 uses the teacher as it is, but {folder} is a {arch} with {config.num_labels} labels, "
            f"not a {spec.name} model ({spec.num_labels} labels): fine-tune it first or give teacher_steps > 0"
        )
    return folder


def teacher_stage(cfg: DemoConfig, data: str, folder: Path) -> dict:
    from ..hub import ensure_model
    from ..tasks.finetune import FinetuneConfig, finetune

    if cfg.teacher_steps == 0:
        return {"base_model": cfg.teacher, "folder": str(folder), "fine_tuned_here": False}
    base = ensure_model(cfg.teacher, cache_dir=cfg.models_dir)
    result = finetune(
        FinetuneConfig(
            model=base,
            task=cfg.task,
            data=data,
            output_dir=str(folder),
            max_steps=cfg.teacher_steps,
            batch_size=cfg.batch_size,
            learning_rate=cfg.teacher_learning_rate,
            max_length=cfg.max_length,
            max_train_samples=cfg.train_samples,
            eval_splits=(),
            save_steps=max(cfg.teacher_steps // 2, 1),
            seed=cfg.seed,
        )
    )
    return {
        "base_model": base,
        "folder": str(folder),
        "train_seconds": result["train_seconds"],
        "train_loss": result["train_loss"],
    }


def _write_train_texts(cfg: DemoConfig, data: str, path: Path) -> Path:
    from ..tasks import load_task
    from ..tasks.specs import get_task

    spec = get_task(cfg.task)
    rows = load_task(spec, data, splits=["train"])["train"]
    with path.open("w", encoding="utf-8") as f:
        for field in spec.text_fields:
            for value in rows[field]:
                f.write((" ".join(value) if isinstance(value, list) else value).replace("\n", " ") + "\n")
    return path


def student_stage(cfg: DemoConfig, data: str, teacher: Path, folder: Path) -> dict:
    from ..distillation.cli import DistillConfig, run_distillation

    corpus = []
    if cfg.trim_vocabulary:  # keep the tokens the task's train texts use: most of a multilingual vocabulary goes
        corpus = [str(_write_train_texts(cfg, data, folder.parent / f"{cfg.task}-train-texts.txt"))]
    result = run_distillation(
        DistillConfig(
            teachers=[str(teacher)],
            task=cfg.task,
            output_dir=str(folder),
            data=data,
            student_layers=cfg.student_layers,
            trim_vocab_corpus=corpus,
            max_steps=cfg.distill_steps,
            batch_size=cfg.batch_size,
            learning_rate=cfg.distill_learning_rate,
            max_length=cfg.max_length,
            max_train_samples=cfg.train_samples,
            max_eval_samples=32,
            save_steps=max(cfg.distill_steps // 2, 1),
            seed=cfg.seed,
        )
    )
    return {
        "folder": str(folder),
        "train": result["train"],
        "vocabulary": result.get("vocabulary"),
        "loss_weights": result["loss_weights"],
    }


def prune_stage(cfg: DemoConfig, data: str, student: Path, folder: Path) -> dict:
    from ..pruning import BlockPruningConfig
    from ..pruning.cli import PruneTaskConfig, prune_task

    pruning = BlockPruningConfig(
        block_shape=cfg.block_shape,
        target_sparsity=cfg.sparsity,
        start_step=0,
        end_step=max(cfg.prune_steps // 2, 1),
        pruning_frequency=max(cfg.prune_steps // 24, 1),
        schedule="cubic",
        criterion="magnitude",
    )
    result = prune_task(
        PruneTaskConfig(
            model=str(student),
            task=cfg.task,
            output_dir=str(folder),
            data=data,
            teacher=str(student),
            max_steps=cfg.prune_steps,
            batch_size=cfg.batch_size,
            learning_rate=cfg.prune_learning_rate,
            max_length=cfg.max_length,
            max_train_samples=cfg.train_samples,
            eval_splits=(),
            save_steps=max(cfg.prune_steps // 2, 1),
            seed=cfg.seed,
        ),
        pruning,
    )
    return {
        "folder": str(folder),
        "sparsity": result["sparsity"],
        "train_seconds": result["train_seconds"],
        "pruning": result["pruning"],
    }


def sparsify_stage(pruned: Path, folder: Path, dtype: str) -> dict:
    from ..models.cli import sparsify

    if folder.exists():
        shutil.rmtree(folder)
    return sparsify(str(pruned), str(folder), dtype=dtype, block_shape=KERNEL_BLOCKS[dtype])


def dev_rows(cfg: DemoConfig, data: str):
    """The dev rows every model is scored on: a seeded sample of ``eval_samples`` rows (or all)."""
    from ..tasks import load_task
    from ..tasks.finetune import sample_subset

    dev = load_task(cfg.task, data, splits=["validation"])["validation"]
    return sample_subset(dev, cfg.eval_samples, cfg.seed) if cfg.eval_samples else dev


def load_model(folder: str | Path, task):
    """A stage's model folder through ``AutoModelFor*`` (sparse folders with ``trust_remote_code``)."""
    from transformers import AutoTokenizer

    import optimum_ro.models  # noqa: F401  (registers the sparse classes in this process)

    from .measure import auto_class

    model = auto_class(task).from_pretrained(str(folder), trust_remote_code=True).eval()
    return model, AutoTokenizer.from_pretrained(str(folder), trust_remote_code=True)


def evaluate_stage(cfg: DemoConfig, data: str, folders: dict[str, Path], out: Path) -> dict:
    """Score, loyalty to the teacher and size of every model on the same dev rows; predictions saved."""
    from ..hub.folder import folder_mb
    from .measure import encode_rows, loyalty, parameter_counts, predict, score

    rows = dev_rows(cfg, data)
    results, predictions = {}, {}
    for name, folder in folders.items():
        model, tokenizer = load_model(folder, cfg.task)
        preds = predict(model, tokenizer, encode_rows(rows, tokenizer, cfg.task, cfg.max_length), cfg.task)
        preds.save(out / f"{name}.npz")
        predictions[name] = preds
        results[name] = {
            "folder": str(folder),
            "dev": score(cfg.task, preds),
            "disk_mb": round(folder_mb(folder), 1),
            **parameter_counts(model),
        }
        if name != "teacher":
            results[name]["loyalty"] = loyalty(cfg.task, preds, predictions["teacher"])
    return {"dev_rows": len(rows), "models": results}


def latency_stage(cfg: DemoConfig, data: str, folders: dict[str, Path]) -> dict:
    import torch

    from ..sparse import current_isa
    from ..tasks.specs import get_task
    from .measure import latencies

    rows = dev_rows(cfg, data)
    field = get_task(cfg.task).text_fields[0]
    texts = [" ".join(v) if isinstance(v, list) else v for v in rows[:32][field]]
    models = {name: load_model(folder, cfg.task) for name, folder in folders.items()}
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.latency_threads)
    try:
        timings = latencies(models, texts, seq=cfg.latency_seq, rounds=cfg.latency_rounds)
    finally:  # the process's own setting back (a caller, e.g. a test session, may fork workers later)
        torch.set_num_threads(threads)
    return {
        "seq": cfg.latency_seq,
        "threads": cfg.latency_threads,
        "rounds": cfg.latency_rounds,
        "isa": current_isa(),
        "models": timings,
    }


def fresh_process_check(cfg: DemoConfig, data: str, folder: Path, expected_npz: Path, work: Path) -> dict:
    """Load ``folder`` in a new Python process as a user would (``trust_remote_code=True``, optimum_ro not
    imported first) and check it predicts what this process scored; raises if not."""
    import numpy as np

    from ..tasks.specs import TOKEN, get_task
    from .measure import Predictions, auto_class

    spec = get_task(cfg.task)
    rows = dev_rows(cfg, data)
    if spec.kind == TOKEN:
        raw = list(rows[spec.text_fields[0]])
    else:
        raw = [list(r) for r in zip(*(rows[f] for f in spec.text_fields))]
    request = {
        "folder": str(folder),
        "auto_class": auto_class(cfg.task).__name__,
        "kind": spec.kind,
        "max_length": cfg.max_length,
        "threads": cfg.latency_threads,
        "rows": raw,
    }
    (work / "fresh_request.json").write_text(json.dumps(request, ensure_ascii=False), encoding="utf-8")
    got_path = work / "fresh_predictions.npy"
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("fresh_load.py")),
            str(work / "fresh_request.json"),
            str(got_path),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no output)"]
        raise RuntimeError(f"loading {folder} in a fresh process failed: {tail[0]}")
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    expected, got = Predictions.load(expected_npz), np.load(got_path)
    if got.shape != expected.logits.shape:
        raise RuntimeError(
            f"{folder} in a fresh process gave {got.shape} predictions, expected {expected.logits.shape}"
        )
    same = float((got.argmax(-1) == expected.label_ids()).mean()) if got.ndim == 2 else 1.0
    diff = float(np.abs(got - expected.logits).max())
    if same < 1.0 or diff > 1e-3:
        raise RuntimeError(
            f"{folder} in a fresh process disagrees with the scored model: {100 * same:.2f}% same "
            f"labels, max |logit diff| {diff:.2e}"
        )
    return {
        "class": loaded["class"],
        "kernels": loaded["kernels"],
        "same_predictions": same,
        "max_abs_diff": diff,
        "units": int(got.shape[0]),
    }


def preflight(cfg: DemoConfig) -> None:
    """Check what can be checked before any stage runs (raises ValueError with a one-line message)."""
    from ..tasks.finetune import resolve_data

    resolve_data(cfg.task, cfg.data)
    if cfg.teacher_steps == 0:
        check_task_teacher(cfg.teacher, cfg.task)


def publish_stage(source: Path, published: Path, dtype: str) -> dict:
    """Copy the sparse folder of the chosen dtype to ``model/``, the folder a user pushes."""
    if published.exists():
        shutil.rmtree(published)
    shutil.copytree(source, published)
    return {"folder": str(published), "dtype": dtype}


def _training_stages(runner: StageRunner, cfg: DemoConfig, data: str, f: dict[str, Path]) -> dict:
    """teacher -> student -> pruned -> sparse fp32 / int8; returns each stage's result."""
    if cfg.teacher_steps == 0:  # a teacher already fine-tuned on the task: used as it is
        f["teacher"] = Path(check_task_teacher(cfg.teacher, cfg.task))
    teacher = runner.run(
        "teacher",
        {**_common(cfg), "teacher": cfg.teacher, "steps": cfg.teacher_steps, "lr": cfg.teacher_learning_rate},
        lambda: teacher_stage(cfg, data, f["teacher"]),
        folder=f["teacher"] if cfg.teacher_steps else None,
    )
    student_settings = {
        "layers": cfg.student_layers,
        "trim": cfg.trim_vocabulary,
        "steps": cfg.distill_steps,
        "lr": cfg.distill_learning_rate,
    }
    student = runner.run(
        "student",
        student_settings,
        lambda: student_stage(cfg, data, f["teacher"], f["student"]),
        folder=f["student"],
    )
    pruned = runner.run(
        "pruned",
        {"block": cfg.block_shape, "sparsity": cfg.sparsity, "steps": cfg.prune_steps, "lr": cfg.prune_learning_rate},
        lambda: prune_stage(cfg, data, f["student"], f["pruned"]),
        folder=f["pruned"],
    )
    sparse = {
        dtype: runner.run(
            f"sparse-{dtype}", {"dtype": dtype}, lambda d=dtype: sparsify_stage(f["pruned"], f[f"sparse-{d}"], d)
        )
        for dtype in KERNEL_BLOCKS
    }
    return dict(teacher=teacher, student=student, pruned=pruned, sparsify=sparse)


def run_pipeline(cfg: DemoConfig, echo=print) -> dict:
    """Run (or resume) every stage; returns the report dict that :mod:`.report` renders."""
    from ..tasks.finetune import resolve_data
    from .card import write_model_card

    out = Path(cfg.output_dir)
    data = resolve_data(cfg.task, cfg.data)
    runner = StageRunner(out, echo=echo)
    f = {name: out / name for name in ("teacher", "student", "pruned", *MODEL_NAMES[2:])}
    stages = _training_stages(runner, cfg, data, f)
    folders = {name: f[name] for name in MODEL_NAMES}
    evaluation = runner.run(
        "evaluate", {"eval_samples": cfg.eval_samples}, lambda: evaluate_stage(cfg, data, folders, out)
    )
    latency = runner.run(
        "latency",
        {"seq": cfg.latency_seq, "threads": cfg.latency_threads, "rounds": cfg.latency_rounds},
        lambda: latency_stage(cfg, data, folders),
    )
    published = out / "model"
    source = f[f"sparse-{cfg.publish_dtype}"]
    runner.run("publish", {"dtype": cfg.publish_dtype}, lambda: publish_stage(source, published, cfg.publish_dtype))
    expected = out / f"sparse-{cfg.publish_dtype}.npz"
    check = runner.run("fresh-process", {}, lambda: fresh_process_check(cfg, data, published, expected, out))
    report = {
        "config": asdict(cfg),
        "data": data,
        "stages": stages,
        "evaluation": evaluation,
        "latency": latency,
        "fresh_process": check,
        "published": str(published),
        "stage_seconds": dict(runner.stage_seconds),
    }
    write_model_card(published, report)
    return report
