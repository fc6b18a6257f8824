"""The data of a distillation run (``run_distillation``): raw text for general distillation, task splits for task
distillation, each with the inputs of the teachers whose tokenizers differ from the student's."""

from __future__ import annotations

from pathlib import Path


def trim_corpus_lines(cfg) -> list[str]:
    """The lines of ``--trim-vocab-corpus`` (at most ``trim_max_lines``): the texts whose tokens the student keeps."""
    from optimum_ro.tasks.pretrain import read_lines

    return list(read_lines(cfg.trim_vocab_corpus, cfg.trim_max_lines))


def mlm_dataset(cfg, student_tok, others) -> dict:
    """Raw text for general (MLM) distillation, tokenized for the student and re-tokenized for each teacher in
    ``others`` (``{index: tokenizer}``) from the same words."""
    from datasets import Dataset

    from optimum_ro.tasks.pretrain import read_lines

    from .alignment import prepare_student_words, prepare_teacher_inputs

    if not cfg.data:
        raise SystemExit("--task mlm needs --data: a text file (.txt or .txt.gz, one text per line) or several")
    paths = [str(p) for p in sorted(Path(cfg.data).glob("*.txt*"))] if Path(cfg.data).is_dir() else cfg.data.split(",")
    ds = Dataset.from_dict({"text": list(read_lines(paths, cfg.max_texts))})
    max_length = cfg.max_length or 128
    ds = prepare_student_words(ds, student_tok, text_fields=["text"], max_length=max_length)
    for i, tok in others.items():
        ds = prepare_teacher_inputs(ds, [tok], text_fields=["text"], max_length=max_length, start=i)
    return {"train": ds.remove_columns(["text"])}


def task_dataset(cfg, student_tok, others):
    """The task's splits tokenized for the student (raw columns kept) plus each other teacher's inputs."""
    from optimum_ro.commands.runs import subset_splits
    from optimum_ro.tasks import TASKS, load_task, preprocess_task
    from optimum_ro.tasks.data_location import resolve_data

    from .alignment import prepare_teacher_inputs

    spec = TASKS[cfg.task]
    raw = load_task(spec.name, resolve_data(spec.name, cfg.data))
    raw = subset_splits(raw, cfg.max_train_samples, cfg.max_eval_samples, cfg.seed)  # seeded random rows
    max_length = cfg.max_length or spec.default_max_length
    ds = preprocess_task(raw, student_tok, spec.name, max_length=max_length, keep_raw=True)
    for i, tok in others.items():
        if spec.kind == "token":
            ds = type(ds)(
                {
                    k: prepare_teacher_inputs(
                        v, [tok], words_field=spec.text_fields[0], max_length=max_length, start=i
                    )
                    for k, v in ds.items()
                }
            )
        else:
            ds = type(ds)(
                {
                    k: prepare_teacher_inputs(
                        v, [tok], text_fields=list(spec.text_fields), max_length=max_length, start=i, split_words=False
                    )
                    for k, v in ds.items()
                }
            )
    return ds
