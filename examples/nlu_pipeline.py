"""The Alexa Teacher Model pipeline on Romanian virtual-assistant data, stage by stage, resumable.

    python examples/nlu_pipeline.py                      # or: accelerate launch examples/nlu_pipeline.py
    python examples/nlu_pipeline.py --report-only        # re-render results/nlu/ from the finished stages
    python examples/nlu_pipeline.py --branch s2 & python examples/nlu_pipeline.py --branch s1   # 2 processes

Stages (each a folder under ``--runs``; a record in ``<runs>/stages`` once finished, so a re-run skips it, and
an interrupted one resumes from its ``Trainer`` checkpoints):

1. ``base``: multilingual-e5-small with its vocabulary trimmed to the tokens of the NLU train utterances and
   the general Romanian text (the word embeddings then train at little cost).
2. ``mlm-head``: stage 1. e5 has no MLM head; one is fitted on general text with the encoder frozen, so the
   stage-1 encoder is e5 itself and its masked-LM loss can be compared with stage 2's.
3. ``stage2``: continued MLM pretraining on in-domain utterances (massive_ro + ro_home *train*) mixed 1:1 by
   tokens with general text; held-out loss on massive_ro + ro_home *dev* utterances before and after.
4. ``teacher-s{1,2}-<data>``: each encoder fine-tuned on joint intent + slot (dev curve every N steps).
5. ``general-s{1,2}-L<n>``: students of n layers cut from each stage's MLM model (DistilBERT-style) and
   general-distilled on the same in-domain + general mix (soft targets + MLM + hidden-state cosine).
6. ``student-s{1,2}-L<n>-<data>[-seed<k>]``: joint intent + slot distillation from that stage's fine-tuned
   teacher (intent probabilities, slot probabilities on each word's first sub-token, gold labels).
7. ``pruned-…`` / ``sparse-…``: one student block-pruned to 80% (1x4 blocks, 6 epochs) while distilling from
   its dense self (``--prune-from teacher``: from the stage-2 teacher), packed with ``sparsify`` in the same
   blocks (fp32 and int8), loaded through ``AutoModel`` with ``trust_remote_code`` and scored. The recipe is
   the best of ``examples/nlu_prune_sweep.py``.
8. ``latency``: batch 1, 2 torch threads, real dev utterances one at a time; then the report.

After the shared MLM stages, each teacher's stages (4-8 for stage 2, 4-6 for stage 1) form a branch of their
own, so ``--branch s1`` and ``--branch s2`` can run in two processes at once.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

DATASETS = ("massive_ro", "ro_home", "atis")
IN_DOMAIN = ("massive_ro", "ro_home")  # Romanian assistant utterances: the stage-2 text (train splits only)
DTYPES = {"fp32": "float32", "int8": "int8"}  # the report's short names -> sparsify's dtypes
MLM_LENGTH = 32  # tokens per MLM block / line: utterances fit whole, general text is cut (CPU budget)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/multilingual-e5-small")
    ap.add_argument("--nlu-data", default="../shared/data/nlu")
    ap.add_argument("--general-text", default="../shared/data/ro/raw/train.txt.gz")
    ap.add_argument(
        "--general-lines", type=int, default=60000, help="general-text lines read (the last 1,000 held out)"
    )
    ap.add_argument("--runs", default="runs/nlu-pipeline")
    ap.add_argument("--report", default="results/nlu")
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--student-layers", nargs="+", type=int, default=[2, 4, 6])
    ap.add_argument("--seeds", nargs="+", type=int, default=[42, 43, 44], help="seeds of the smallest student")
    ap.add_argument("--head-steps", type=int, default=200)
    ap.add_argument("--stage2-steps", type=int, default=400)
    ap.add_argument("--general-distill-steps", type=int, default=200)
    ap.add_argument("--teacher-epochs", type=float, default=4.0)
    ap.add_argument(
        "--teacher-min-steps", type=int, default=400, help="at least this many fine-tuning steps (small sets)"
    )
    ap.add_argument("--teacher-lr", type=float, default=1e-4, help="the encoder's rate (heads: 20x)")
    ap.add_argument("--student-epochs", type=float, default=2.0)
    ap.add_argument(
        "--student-min-steps",
        type=int,
        default=400,
        help="at least this many distillation steps (small sets: 2 epochs of ro_home are 71 steps)",
    )
    ap.add_argument("--prune-layers", type=int, default=4, help="layers of the student pruned into the sparse twin")
    ap.add_argument(
        "--prune-epochs", type=float, default=6.0, help="pruning in the first half, recovery in the second"
    )
    ap.add_argument("--prune-block", default="1x4", help="block shape pruned and packed (a fast kernel's)")
    ap.add_argument(
        "--prune-from",
        choices=("teacher", "self"),
        default="self",
        help="distil the pruned student from the stage-2 teacher or from its dense self",
    )
    ap.add_argument("--sparsity", type=float, default=0.8)
    ap.add_argument(
        "--branch",
        choices=("all", "s1", "s2"),
        default="all",
        help="run one teacher's branch only (after the shared MLM stages): two processes can run both at once",
    )
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--measure-only", action="store_true", help="time the finished models, then report")
    return ap.parse_args(argv)


# ---------------------------------------------------------------------------------------------------- texts


def utterances(folder: Path, split: str) -> list[str]:
    path = folder / f"{split}.jsonl"
    if not path.exists():
        return []
    return [" ".join(json.loads(line)["tokens"]) for line in path.read_text(encoding="utf-8").splitlines() if line]


def write_texts(args, root: Path) -> dict:
    """The text files every MLM stage reads; the mix is in-domain utterances repeated up to the general text's
    token count (1:1 by whitespace words), shuffled with a fixed seed."""
    from optimum_ro.tasks.pretrain import read_lines

    nlu = Path(args.nlu_data)
    train = [u for name in IN_DOMAIN for u in utterances(nlu / name, "train")]
    heldout = [u for name in IN_DOMAIN for u in utterances(nlu / name, "dev")]
    general = list(read_lines([args.general_text], args.general_lines))
    held = min(1000, len(general) // 5)  # the last lines are never trained on
    general_train, general_heldout = general[:-held], general[-held:]
    words = lambda lines: sum(len(x.split()) for x in lines)  # noqa: E731
    repeats = max(1, round(words(general_train) / max(words(train), 1)))
    mix = general_train + train * repeats
    random.Random(0).shuffle(mix)
    files = {
        "in_domain_train": train,
        "in_domain_heldout": heldout,
        "general_train": general_train,
        "general_heldout": general_heldout,
        "mix": mix,
    }
    paths = {}
    for name, lines in files.items():
        paths[name] = str(root / "texts" / f"{name}.txt")
        Path(paths[name]).parent.mkdir(parents=True, exist_ok=True)
        Path(paths[name]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    nlu_train = [u for name in DATASETS for u in utterances(nlu / name, "train")]
    paths["vocab_corpus"] = str(root / "texts" / "vocab_corpus.txt")
    Path(paths["vocab_corpus"]).write_text("\n".join(nlu_train + general_train) + "\n", encoding="utf-8")
    return {
        "paths": paths,
        "lines": {k: len(v) for k, v in files.items()},
        "words": {k: words(v) for k, v in files.items()},
        "in_domain_repeats": repeats,
    }


# ---------------------------------------------------------------------------------------------------- stages


def base_stage(args, texts: dict, folder: Path) -> dict:
    from transformers import AutoModel, AutoTokenizer

    from optimum_ro.distillation.vocab import trim_vocabulary
    from optimum_ro.tasks.pretrain import read_lines

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModel.from_pretrained(args.model, add_pooling_layer=False)
    before = len(tokenizer)
    model, tokenizer = trim_vocabulary(model, tokenizer, read_lines([texts["paths"]["vocab_corpus"]]))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {"folder": str(folder), "vocabulary": {"before": before, "after": len(tokenizer)}}


def mlm_stage(texts: dict, source: str, folder: Path, text: str, steps: int, lr: float, head_only: bool) -> dict:
    from optimum_ro.tasks.pretrain import PretrainConfig, pretrain

    summary = pretrain(
        PretrainConfig(
            text=text,
            output_dir=str(folder),
            from_model=source,
            max_length=MLM_LENGTH,
            batch_size=32,
            learning_rate=lr,
            max_steps=steps,
            warmup_steps=max(steps // 10, 1),
            save_steps=max(steps // 4, 1),
            head_only=head_only,
            heldout_text=texts["paths"]["in_domain_heldout"],
        )
    )
    return {"folder": str(folder), **{k: summary[k] for k in ("steps", "train_seconds", "final_loss", "heldout_mlm")}}


def mlm_eval_stage(texts: dict, folders: dict) -> dict:
    """Held-out masked-LM loss of the stage-1 and stage-2 models on in-domain and general text (same masks)."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from optimum_ro.tasks.mlm_eval import heldout_mlm_loss
    from optimum_ro.tasks.pretrain import read_lines

    table = {}
    for stage, folder in folders.items():
        model = AutoModelForMaskedLM.from_pretrained(folder)
        tok = AutoTokenizer.from_pretrained(folder)
        table[stage] = {
            name: heldout_mlm_loss(model, tok, list(read_lines([texts["paths"][name]])), max_length=MLM_LENGTH, seed=0)
            for name in ("in_domain_heldout", "general_heldout")
        }
    return table


def teacher_stage(args, encoder: str, data: Path, folder: Path) -> dict:
    from optimum_ro.tasks.nlu_finetune import NLUFinetuneConfig, finetune_nlu

    steps = max(epochs_to_steps(data, args.teacher_epochs, 32), args.teacher_min_steps)
    return finetune_nlu(
        NLUFinetuneConfig(
            model=encoder,
            data=str(data),
            output_dir=str(folder),
            max_steps=steps,
            batch_size=32,
            learning_rate=args.teacher_lr,
            max_length=64,
            curve_steps=max(steps // 9, 1),
            save_steps=max(steps // 3, 1),
        )
    )


def general_distill_stage(args, teacher_mlm: str, texts: dict, layers: int, folder: Path) -> dict:
    from optimum_ro.distillation.cli import DistillConfig, run_distillation

    result = run_distillation(
        DistillConfig(
            teachers=[teacher_mlm],
            task="mlm",
            output_dir=str(folder),
            data=texts["paths"]["mix"],
            student_layers=layers,
            max_steps=args.general_distill_steps,
            batch_size=32,
            learning_rate=1e-4,
            max_length=MLM_LENGTH,
            save_steps=max(args.general_distill_steps // 4, 1),
        )
    )
    return {"folder": str(folder), "train": result["train"], "parameters": result["student_parameters"]}


def student_stage(
    args, teacher: str, student: str, data: Path, folder: Path, seed: int, callbacks=None, epochs: float | None = None
) -> dict:
    from optimum_ro.distillation.nlu_distill import NLUDistillConfig, distill_intent_slot

    steps = epochs_to_steps(data, epochs, 32) if epochs else student_steps(args, data)
    return distill_intent_slot(
        NLUDistillConfig(
            teacher=teacher,
            student=student,
            data=str(data),
            output_dir=str(folder),
            max_steps=steps,
            batch_size=32,
            learning_rate=1e-4,
            curve_steps=max(steps // 6, 1),
            save_steps=max(steps // 3, 1),
            seed=seed,
        ),
        callbacks=callbacks,
    )


def prune_stage(
    args, dense: str, data: Path, folder: Path, block_shape: str = "16x4", teacher: str | None = None
) -> dict:
    """Prune ``dense`` to ``args.sparsity`` in ``block_shape`` blocks while distilling from ``teacher`` (default:
    the dense student itself): the pruning ends half-way, the second half recovers. 16x4 packs without padding
    into both fast kernel layouts."""
    from optimum_ro.pruning import BlockPruner, BlockPruningConfig

    steps = epochs_to_steps(data, args.prune_epochs, 32)
    config = BlockPruningConfig(
        block_shape=block_shape,
        target_sparsity=args.sparsity,
        start_step=0,
        end_step=steps // 2,
        pruning_frequency=max(steps // 40, 1),
        schedule="cubic",
        criterion="magnitude",
    )
    pruner = BlockPruner(config)
    result = student_stage(
        args, teacher or dense, dense, data, folder, 42, callbacks=[pruner], epochs=args.prune_epochs
    )
    result["pruning"] = {"block_shape": block_shape, "target_sparsity": args.sparsity, "steps": steps}
    result["pruning"]["teacher"] = teacher or dense
    return result


def sparse_stage(pruned: str, folder: Path, dtype: str, data: Path, block_shape: str) -> dict:
    """``sparsify`` the pruned student, load it back through ``AutoModel`` and score it on dev and test."""
    import shutil

    from transformers import AutoModel, AutoTokenizer

    from optimum_ro.metrics.nlu import nlu_scores
    from optimum_ro.models.cli import sparsify
    from optimum_ro.tasks.nlu import decode_nlu, encode_nlu, load_nlu, pad_slot_logits, predict_intent_slot

    if folder.exists():
        shutil.rmtree(folder)
    packed = sparsify(pruned, str(folder), dtype=DTYPES[dtype], block_shape=block_shape)
    model = AutoModel.from_pretrained(str(folder), trust_remote_code=True).eval()
    tok = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=True)
    nlu = load_nlu(str(data))
    result = {"folder": str(folder), "class": type(model).__name__, "sparsify": packed}
    for split in ("dev", "test"):
        if split in nlu:
            enc = encode_nlu(nlu[split], tok, nlu.labels, 64)
            intent, slot = predict_intent_slot(model, enc, tok.pad_token_id or 0)
            intents, slots = decode_nlu(intent, pad_slot_logits(slot), enc, nlu.labels)
            result[split] = nlu_scores(
                [r["intent"] for r in nlu[split]], intents, [r["slots"] for r in nlu[split]], slots
            )
    return result


def latency_stage(folders: dict, data: Path, rounds: int = 3) -> dict:
    """Median ms per utterance at batch 1, 2 torch threads, over 100 dev utterances (unpadded, as served)."""
    import statistics

    import torch
    from transformers import AutoModel, AutoTokenizer

    import optimum_ro.models  # noqa: F401  (registers the sparse classes)
    from optimum_ro.models.intent_slot import BertForIntentSlot

    texts = utterances(data, "dev")[:100]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    out = {}
    try:
        for name, folder in folders.items():
            config = json.loads((Path(folder) / "config.json").read_text())
            if config.get("model_type", "").startswith("sparse_bert"):
                model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
            else:
                model = BertForIntentSlot.from_pretrained(folder).eval()
            tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
            batches = [tok(t, return_tensors="pt") for t in texts]
            with torch.inference_mode():
                for b in batches[:10]:
                    model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
                times = []
                for _ in range(rounds):
                    for b in batches:
                        start = time.perf_counter()
                        model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
                        times.append(1000 * (time.perf_counter() - start))
            out[name] = {
                "ms_b1": round(statistics.median(times), 3),
                "utterances": len(texts),
                **parameter_counts(model),
            }
    finally:
        torch.set_num_threads(threads)
    return out


def parameter_counts(model) -> dict:
    """Parameters of the dense equivalent, non-zero ones, and non-zero ones outside the embeddings."""
    import torch

    from optimum_ro.demo.measure import parameter_counts as dense_counts
    from optimum_ro.models import is_sparse_bert, to_dense_model

    counts = dense_counts(model)
    dense = to_dense_model(model) if is_sparse_bert(model) else model
    embeddings = sum(int(torch.count_nonzero(p)) for n, p in dense.named_parameters() if ".embeddings." in f".{n}")
    return {**counts, "nonzero_without_embeddings": counts["nonzero_parameters"] - embeddings}


def student_steps(args, data: Path) -> int:
    """Distillation steps of a student on ``data``: ``--student-epochs``, at least ``--student-min-steps``."""
    return max(epochs_to_steps(data, args.student_epochs, 32), args.student_min_steps)


def epochs_to_steps(data: Path, epochs: float, batch: int) -> int:
    n = len(utterances(data, "train"))
    return max(1, round(epochs * -(-n // batch)))


# ---------------------------------------------------------------------------------------------------- main


def run(args) -> dict:
    from optimum_ro.demo.stages import StageRunner

    root = Path(args.runs)
    runner = StageRunner(root, label="nlu")
    nlu = Path(args.nlu_data)
    f = lambda name: root / name  # noqa: E731
    settings = {k: v for k, v in vars(args).items() if k not in ("report_only", "report", "branch")}
    texts = runner.run(
        "texts",
        {k: settings[k] for k in ("nlu_data", "general_text", "general_lines")},
        lambda: write_texts(args, root),
    )
    runner.run("base", {"model": args.model}, lambda: base_stage(args, texts, f("base")), f("base"))
    mlm = {
        "s1": runner.run(
            "mlm-head",
            {"steps": args.head_steps},
            lambda: mlm_stage(
                texts, str(f("base")), f("mlm-head"), texts["paths"]["general_train"], args.head_steps, 1e-3, True
            ),
            f("mlm-head"),
        )["folder"],
    }
    mlm["s2"] = runner.run(
        "stage2",
        {"steps": args.stage2_steps},
        lambda: mlm_stage(texts, mlm["s1"], f("stage2"), texts["paths"]["mix"], args.stage2_steps, 5e-5, False),
        f("stage2"),
    )["folder"]
    runner.run("mlm-eval", {}, lambda: mlm_eval_stage(texts, mlm))
    encoders = {"s1": str(f("base")), "s2": mlm["s2"]}
    primary = args.datasets[0]
    smallest = min(args.student_layers)
    shared = runner.previous  # each teacher's branch chains from here: the two can run in separate processes

    def teacher_floor(d) -> dict:
        """As for students: the floor enters the key only where it changes the step count."""
        by_epochs = epochs_to_steps(nlu / d, args.teacher_epochs, 32)
        return {} if by_epochs >= args.teacher_min_steps else {"steps": args.teacher_min_steps}

    def teacher(br, stage, d):
        name = f"teacher-{stage}-{d}"
        br.run(
            name,
            {"epochs": args.teacher_epochs, "learning_rate": args.teacher_lr} | teacher_floor(d),
            lambda: teacher_stage(args, encoders[stage], nlu / d, f(name)),
            f(name),
        )

    def general(stage, n) -> str:
        """One general-distilled student per (stage, size), shared by every dataset; it depends on the MLM
        stages only, so a changed teacher setting does not redo it. Returns its record's key."""
        name = f"general-{stage}-L{n}"
        gr = StageRunner(root, label=f"nlu {stage}")
        gr.previous = shared
        gr.run(
            name,
            {"steps": args.general_distill_steps},
            lambda: general_distill_stage(args, mlm[stage], texts, n, f(name)),
            f(name),
        )
        return gr.previous

    def min_steps_setting(d) -> dict:
        """The step floor is part of a student's key only where it changes the steps (small data sets)."""
        steps = student_steps(args, nlu / d)
        return {} if steps == epochs_to_steps(nlu / d, args.student_epochs, 32) else {"steps": steps}

    def student(br, stage, n, d, seed):
        name = f"student-{stage}-L{n}-{d}" + ("" if seed == args.seeds[0] else f"-seed{seed}")
        br.run(
            name,
            {"epochs": args.student_epochs, "seed": seed, "general": general(stage, n)} | min_steps_setting(d),
            lambda: student_stage(
                args, str(f(f"teacher-{stage}-{d}")), str(f(f"general-{stage}-L{n}")), nlu / d, f(name), seed
            ),
            f(name),
        )

    def students(br, stage, d, sizes, seeds=None):
        """Students of these sizes on ``d``: ``seeds``, else every seed for the smallest on the main dataset and
        the first one otherwise."""
        for n in sizes:
            chosen = seeds or (args.seeds if (n == smallest and d == primary) else args.seeds[:1])
            for seed in chosen:
                student(br, stage, n, d, seed)

    # one branch per teacher, the main dataset first; the stage-2 branch makes its sparse twin as soon as the
    # dense student exists (what the report's claims rest on), then the other seeds, the larger students and
    # the other datasets
    for stage in [b for b in ("s2", "s1") if args.branch in (b, "all")]:
        br = StageRunner(root, label=f"nlu {stage}")
        br.previous = shared
        teacher(br, stage, primary)
        if stage == "s2":
            students(br, stage, primary, [args.prune_layers], seeds=args.seeds[:1])
            dense = f"student-s2-L{args.prune_layers}-{primary}"
            pruned = f"pruned-s2-L{args.prune_layers}-{primary}"
            guide = str(f(f"teacher-s2-{primary}")) if args.prune_from == "teacher" else None
            # the sparse twin hangs off the dense student on a side chain: a changed pruning recipe redoes the
            # pruned and sparse stages only, not the students after them
            side = StageRunner(root, label=f"nlu {stage}")
            side.previous = br.previous
            side.run(
                pruned,
                {"sparsity": args.sparsity, "epochs": args.prune_epochs}
                | {"block_shape": args.prune_block, "from": args.prune_from},
                lambda: prune_stage(args, str(f(dense)), nlu / primary, f(pruned), args.prune_block, guide),
                f(pruned),
            )
            for dtype in ("fp32", "int8"):
                side.run(
                    f"sparse-{dtype}",
                    {"block_shape": args.prune_block},
                    lambda d=dtype: sparse_stage(str(f(pruned)), f(f"sparse-{d}"), d, nlu / primary, args.prune_block),
                )
            if args.prune_layers == smallest:
                students(br, stage, primary, [smallest], seeds=args.seeds[1:])
            students(br, stage, primary, [n for n in args.student_layers if n != args.prune_layers])
            measure(args, root)
        else:
            students(br, stage, primary, args.student_layers)
        for d in args.datasets[1:]:
            teacher(br, stage, d)
            students(br, stage, d, args.student_layers)
    return collect(args)


def measure(args, root: Path) -> dict:
    """The latency stage over the stage-2 branch's models that exist; outside the branches' chains (a record
    keyed by the model list), so it can run again, alone, on a quiet machine (``--measure-only``)."""
    from optimum_ro.demo.stages import StageRunner

    models = latency_models(args, root)
    runner = StageRunner(root, label="nlu")
    return runner.run(
        "latency", {"models": sorted(models)}, lambda: latency_stage(models, Path(args.nlu_data) / args.datasets[0])
    )


def latency_models(args, root: Path) -> dict:
    primary = args.datasets[0]
    names = [f"teacher-s2-{primary}"]  # the branch's own models (stage-1 models share these architectures)
    names += [f"student-s2-L{n}-{primary}" for n in args.student_layers]
    names += [f"pruned-s2-L{args.prune_layers}-{primary}", "sparse-fp32", "sparse-int8"]
    return {n: str(root / n) for n in names if (root / n / "config.json").exists()}


def collect(args) -> dict:
    """Every finished stage's record, by name."""
    records = Path(args.runs) / "stages"
    return {p.stem: json.loads(p.read_text())["result"] for p in sorted(records.glob("*.json"))}


def main(argv=None):
    args = parse_args(argv)
    from accelerate import PartialState

    state = PartialState()
    if args.measure_only:
        measure(args, Path(args.runs))
    results = collect(args) if (args.report_only or args.measure_only) else run(args)
    if state.is_main_process:
        from nlu_report_render import render

        render(results, args, Path(args.report))


if __name__ == "__main__":
    main()
