"""Size effect of trimming a multilingual vocabulary to Romanian text (parameters, disk, unknown-token rate).

    python examples/distill_trim_vocabulary.py --model models/multilingual-e5-small \\
        --corpus ../shared/data/ro/raw/train.txt.gz --tasks-data ../shared/data/ro --output runs/e5-small-ro-trimmed

The trimming corpus is the raw text plus the *train* split of every task (never dev/test); the script then
reports how many dev/test tokens fall outside the kept vocabulary (they become the unknown token).
"""

import argparse
import json
import os
import time
from pathlib import Path

from transformers import AutoModelForMaskedLM, AutoTokenizer

from optimum_ro.distillation import count_parameters, trim_vocabulary
from optimum_ro.hub.folder import folder_mb
from optimum_ro.tasks import task_texts
from optimum_ro.tasks.pretrain import read_lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--corpus", required=True, nargs="+")
    parser.add_argument("--tasks-data", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--min-count", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForMaskedLM.from_pretrained(args.model)  # the MLM head may be new: only sizes matter here
    before = {
        "vocabulary": len(tok),
        "embedding_rows": model.get_input_embeddings().weight.shape[0],
        "parameters": count_parameters(model),
        "parameters_without_mlm_head_transform": count_parameters(model.base_model),
    }
    corpus = list(read_lines(args.corpus)) + list(task_texts(Path(args.tasks_data), "train"))
    start = time.time()
    model, new_tok = trim_vocabulary(model, tok, corpus, min_count=args.min_count)
    seconds = time.time() - start
    after = {
        "vocabulary": len(new_tok),
        "embedding_rows": model.get_input_embeddings().weight.shape[0],
        "parameters": count_parameters(model),
        "parameters_without_mlm_head_transform": count_parameters(model.base_model),
    }
    unk = {}
    for split in ("validation", "test"):
        texts = list(task_texts(Path(args.tasks_data), split))
        ids = [i for row in new_tok(texts, add_special_tokens=False)["input_ids"] for i in row]
        old = [i for row in tok(texts, add_special_tokens=False)["input_ids"] for i in row]
        unk[split] = {
            "tokens": len(ids),
            "unk_after": sum(i == new_tok.unk_token_id for i in ids),
            "unk_before": sum(i == tok.unk_token_id for i in old),
        }
    model.save_pretrained(args.output)
    new_tok.save_pretrained(args.output)
    report = {
        "model": args.model,
        "corpus_lines": len(corpus),
        "min_count": args.min_count,
        "trim_seconds": round(seconds, 1),
        "before": before,
        "after": after,
        "saved_mb": round(folder_mb(args.output, "**/*"), 1),
        "base_model_reduction": round(
            1 - after["parameters_without_mlm_head_transform"] / before["parameters_without_mlm_head_transform"], 4
        ),
        "unknown_tokens": unk,
    }
    (Path(args.output) / "trim_report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
