"""Score a model folder (dense, pruned or sparse) on a task's dev and test splits, loaded as a user loads it.

    python examples/score_model.py runs/real-students/student-A-sentiment-80-int8 --task sentiment --max-length 128

The folder goes through ``AutoModelFor*.from_pretrained(folder, trust_remote_code=True)`` (sparse folders bring
their own model class) and is scored on every split the task's data has of ``validation`` and ``test`` (a split
the maintainers hold back is simply absent). Writes ``<folder>/score_results.json`` (or ``--out``)::

    {"task": "sentiment", "metric": "accuracy", "folder": "...", "class": "...", "max_length": 128,
     "validation": {"accuracy": 0.97, ...}, "test": {...}, "rows": {"validation": 1200}, ...}

the layout ``examples/real_models_summary.py`` reads (``<split>.<metric>``), with the parameter counts and the
size on disk beside it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

SPLITS = ("validation", "test")


def score_folder(folder: str, task: str, data: str | None = None, max_length: int = 128) -> dict:
    """Scores of the model in ``folder`` on each of the task's ``validation`` / ``test`` splits present."""
    from optimum_ro.demo.measure import encode_rows, parameter_counts, predict, score
    from optimum_ro.demo.pipeline import load_model
    from optimum_ro.hub.folder import folder_mb
    from optimum_ro.tasks import load_task
    from optimum_ro.tasks.finetune import resolve_data
    from optimum_ro.tasks.loading import TaskDataError
    from optimum_ro.tasks.specs import get_task

    spec = get_task(task)
    data = resolve_data(spec.name, data)
    try:
        splits = load_task(spec, data, splits=list(SPLITS))
    except TaskDataError:  # the test split held back: dev alone
        splits = load_task(spec, data, splits=["validation"])
    model, tokenizer = load_model(folder, spec.name)
    result = {
        "task": spec.name,
        "metric": spec.metric,
        "folder": str(folder),
        "class": f"{type(model).__module__}.{type(model).__name__}",
        "max_length": max_length,
        "rows": {},
    }
    for split in SPLITS:
        if split not in splits:
            continue
        preds = predict(model, tokenizer, encode_rows(splits[split], tokenizer, spec.name, max_length), spec.name)
        result[split] = score(spec.name, preds)
        result["rows"][split] = len(splits[split])
    result.update(parameter_counts(model), disk_mb=round(folder_mb(folder), 1))
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", help="a model folder with a task head (dense, pruned or `optimum-ro sparsify` output)")
    ap.add_argument("--task", required=True)
    ap.add_argument("--data", default=None, help="default: $OPTIMUM_RO_DATA/<task> or ../shared/data/ro/<task>")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    ap.add_argument("--out", default=None, help="default: <folder>/score_results.json")
    args = ap.parse_args(argv)
    if not (Path(args.folder) / "config.json").is_file():
        raise SystemExit(f"{args.folder}: no config.json; give a model folder (e.g. `optimum-ro sparsify` output)")
    import torch

    torch.set_num_threads(args.threads)
    result = score_folder(args.folder, args.task, args.data, args.max_length)
    out = Path(args.out) if args.out else Path(args.folder) / "score_results.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({s: result[s] for s in SPLITS if s in result}), "->", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
