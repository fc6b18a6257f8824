"""``optimum-ro finetune-nlu``: fine-tune a BERT encoder on joint intent classification + slot filling.

    optimum-ro finetune-nlu --model runs/teacher --data ../shared/data/nlu/ro_home --output runs/nlu-teacher

Writes an HF folder (``BertForIntentSlot``, tokenizer, ``eval_results.json`` with intent accuracy, slot F1,
semantic accuracy and semantic error rate per split, a model card); checkpoints in ``output/checkpoints``, so
running the same command again resumes. In Python: ``finetune_nlu(NLUFinetuneConfig(model=..., data=...))``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, fields
from functools import partial
from pathlib import Path

from .nlu import collate_nlu, decode_nlu, encode_nlu, load_nlu, pad_slot_logits, predict_intent_slot

logger = logging.getLogger("optimum_ro.nlu")
CURVE = "dev_curve.jsonl"  # the learning curve's points, appended as training goes (kept across resumes)


@dataclass
class NLUFinetuneConfig:
    model: str
    data: str | None = None  # a joint intent/slot folder; default: ../shared/data/nlu/ro_home when present
    output_dir: str = "runs/nlu"
    max_steps: int = 400
    batch_size: int = 16
    learning_rate: float = 5e-5
    head_learning_rate: float | None = None  # the new intent/slot heads' rate; default 20 x learning_rate
    max_length: int = 64
    slot_loss_weight: float = 1.0
    save_steps: int = 200
    seed: int = 42
    curve_steps: int = 0  # > 0: score dev every this many steps (the learning curve, in results["curve"])
    eval_splits: tuple = ("dev", "test")


def resolve_nlu_data(data: str | None) -> str:
    """``data`` as given, else ``$OPTIMUM_RO_NLU_DATA`` or ``../shared/data/nlu/ro_home`` (main job and examples)."""
    for candidate in (data, os.environ.get("OPTIMUM_RO_NLU_DATA"), "../shared/data/nlu/ro_home"):
        if candidate and Path(candidate).is_dir():
            return candidate
    raise SystemExit(f"No NLU data at {data!r}: pass --data <folder with train/dev/test .jsonl and labels.json>")


def score_split(trainer, records, encoded, labels) -> dict:
    from optimum_ro.metrics.nlu import nlu_scores

    start = time.time()
    out = trainer.predict(encoded)
    intent_logits, slot_logits = out.predictions[:2]
    intents, slots = decode_nlu(intent_logits, slot_logits, encoded, labels)
    scores = nlu_scores([r["intent"] for r in records], intents, [r["slots"] for r in records], slots)
    return {
        **scores,
        "loss": out.metrics.get("test_loss"),
        "examples": len(records),
        "eval_seconds": round(time.time() - start, 1),
    }


def dev_curve_callback(records, encoded, labels, every: int, path: Path, pad_token_id: int = 0):
    """A ``TrainerCallback`` scoring ``records`` every ``every`` steps; each point is appended to ``path`` (JSON
    lines), so a resumed run keeps the points measured before the interruption."""
    import json

    from transformers import TrainerCallback

    from optimum_ro.metrics.nlu import nlu_scores

    class DevCurve(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if every <= 0 or state.global_step % every or not state.is_world_process_zero:
                return
            intent_logits, slot_logits = predict_intent_slot(model, encoded, pad_token_id)
            intents, slots = decode_nlu(intent_logits, pad_slot_logits(slot_logits), encoded, labels)
            scores = nlu_scores([r["intent"] for r in records], intents, [r["slots"] for r in records], slots)
            point = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 3), **scores}
            with open(path, "a") as f:
                f.write(json.dumps(point) + "\n")
            logger.info("step %d dev %s", state.global_step, {k: round(v, 4) for k, v in scores.items()})

    return DevCurve()


def read_curve(path: Path) -> list[dict]:
    """The points a :func:`dev_curve_callback` wrote, one per step (the last written wins)."""
    import json

    if not path.exists():
        return []
    points = {}
    for line in path.read_text().splitlines():
        if line.strip():
            point = json.loads(line)
            points[point["step"]] = point
    return [points[s] for s in sorted(points)]


def finetune_nlu(cfg: NLUFinetuneConfig, training_args: dict | None = None) -> dict:
    """Fine-tune a joint intent/slot model; ``training_args`` override the ``TrainingArguments`` this builds."""
    from transformers import AutoTokenizer, set_seed

    from optimum_ro.models.intent_slot import BertForIntentSlot

    from ..commands.runs import resume_checkpoint, save_results
    from .task_trainer import make_trainer_class

    data = load_nlu(resolve_nlu_data(cfg.data))
    labels = data.labels
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(cfg.model)
    encoded = {s: encode_nlu(r, tokenizer, labels, cfg.max_length) for s, r in data.items()}
    set_seed(cfg.seed)  # the new heads' initialisation too, not only the training (Trainer seeds after it)
    model = BertForIntentSlot.from_encoder(cfg.model, labels.intents, labels.slots, cfg.slot_loss_weight)
    args = nlu_training_arguments(cfg, out, training_args)
    head_lr = cfg.head_learning_rate if cfg.head_learning_rate is not None else 20 * cfg.learning_rate
    pad_id = tokenizer.pad_token_id or 0
    callbacks = []
    if cfg.curve_steps > 0 and "dev" in data:
        callbacks.append(dev_curve_callback(data["dev"], encoded["dev"], labels, cfg.curve_steps, out / CURVE, pad_id))
    trainer = make_trainer_class()(
        model=model,
        args=args,
        train_dataset=encoded["train"],
        head_learning_rate=head_lr,
        data_collator=partial(collate_nlu, pad_token_id=pad_id),
        callbacks=callbacks,
    )
    resume = resume_checkpoint(out)
    start = time.time()
    train_out = trainer.train(resume_from_checkpoint=resume)
    results = {
        "task": "intent+slot",
        "model": cfg.model,
        "data": data.folder,
        "config": asdict(cfg),
        "intents": len(labels.intents),
        "slot_tags": len(labels.slots),
        "train_examples": len(data["train"]),
        "train_steps": train_out.global_step,
        "train_seconds": round(time.time() - start, 1),
        "train_loss": train_out.training_loss,
        "resumed_from": resume,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if cfg.curve_steps > 0:
        results["curve"] = read_curve(out / CURVE)
    for split in cfg.eval_splits:
        if split in data:
            results[split] = score_split(trainer, data[split], encoded[split], labels)
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    save_results(trainer, out, "eval_results.json", results, write_nlu_card)
    return results


def nlu_training_arguments(cfg, out: Path, overrides: dict | None = None, **fields):
    """``TrainingArguments`` of a joint intent + slot run (fine-tuning or distillation: ``cfg`` has ``batch_size``,
    ``max_steps``, ``learning_rate``, ``save_steps``, ``seed``), checkpoints in ``out/checkpoints``; ``fields``
    add to them and ``overrides`` (Trainer flags given on the command line) win."""
    from transformers import TrainingArguments

    from ..commands.training import project_training_arguments

    args = project_training_arguments(
        out,
        cfg,
        per_device_eval_batch_size=64,
        warmup_steps=0.1,
        label_names=["intent_labels", "slot_labels"],
        **fields,
    )
    return TrainingArguments(**{**args, **(overrides or {})})


def write_nlu_card(folder: Path, results: dict) -> Path:
    from ..hub.cards import NLU_DATA, base_model_id, build_model_card

    scores = {
        split: {
            k: results[split][k] for k in ("intent_accuracy", "slot_f1", "semantic_accuracy", "semantic_error_rate")
        }
        for split in ("dev", "test")
        if results.get(split)
    }
    rows = [
        f"| {split} | {r['intent_accuracy']:.4f} | {r['slot_f1']:.4f} | {r['semantic_accuracy']:.4f} | "
        f"{r['semantic_error_rate']:.4f} |"
        for split, r in scores.items()
    ]
    cfg = results["config"]
    data_name = Path(str(results["data"])).name
    text = "\n".join(
        [
            f"Fine-tuned from `{base_model_id(results['model'])}` on `{data_name}` ({results['train_examples']} "
            f"utterances, {results['intents']} intents, {results['slot_tags']} slot tags) with `optimum-ro "
            f"finetune-nlu`: {results['train_steps']} steps × batch {cfg['batch_size']}, learning rate "
            f"{cfg['learning_rate']} (heads {cfg['head_learning_rate'] or 20 * cfg['learning_rate']:g}).",
            "",
            "| split | intent accuracy | slot F1 | semantic accuracy | semantic error rate |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
            "Slot F1: seqeval entity F1 over word-level BIO tags (first sub-token of each word); semantic accuracy: "
            "intent and every slot tag right.",
            "",
            "```python",
            "from optimum_ro.models.intent_slot import BertForIntentSlot",
            "model = BertForIntentSlot.from_pretrained('<this folder>')   # config.intent_labels / config.slot_labels",
            "```",
        ]
    )
    card = build_model_card(
        "Joint intent classification + slot filling (BertForIntentSlot)",
        text,
        task="intent+slot",
        base_model=results["model"],
        scores=scores,
        tags=["intent-classification", "slot-filling"],
        data=NLU_DATA.get(data_name, ()),
        language="en" if data_name == "atis" else "ro",
    )
    path = folder / "README.md"
    card.save(path)
    return path


def add_parser(subparsers):
    from ..commands.training import add_dataclass_flags, add_trainer_flags

    p = subparsers.add_parser(
        "finetune-nlu", help="fine-tune an encoder on joint intent classification + slot filling"
    )
    settings = {
        "model": {"help": "a BERT-family encoder folder (or Hub id)"},
        "data": {"help": "joint intent/slot folder (default: ../shared/data/nlu/ro_home)"},
        "output_dir": {"aliases": ["--output"], "required": True, "help": "the model folder to write"},
        "head_learning_rate": {"help": "the new intent/slot heads (default: 20x --learning_rate)"},
    }
    add_dataclass_flags(p, NLUFinetuneConfig, skip=("eval_splits",), extra=settings)
    add_trainer_flags(p)
    p.set_defaults(func=_run)
    return p


def _run(args) -> int:
    from ..commands import check_model_folder

    names = {f.name for f in fields(NLUFinetuneConfig)}
    cfg = NLUFinetuneConfig(**{k: v for k, v in vars(args).items() if k in names})
    check_model_folder(cfg.model, "--model")
    cfg.data = resolve_nlu_data(cfg.data)
    from ..commands.training import finish_run, trainer_overrides

    results = finetune_nlu(cfg, training_args=trainer_overrides(args))
    return finish_run(args, cfg.output_dir, results, ("dev", "test"))
