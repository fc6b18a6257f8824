"""Load a model folder as a user would and write its predictions: run as a script, in a fresh process.

    python fresh_load.py request.json predictions.npy

Nothing of optimum_ro is imported here: the folder's own files (``trust_remote_code=True``) bring the model
class, and they import optimum_ro's kernels themselves when it is installed. ``request.json`` holds the folder,
the ``AutoModelFor*`` class name, the task kind, the maximum length and the raw rows (texts, or word lists for
tagging). The predictions are one row of logits per example, or per word (its first sub-token) for tagging.
A JSON line on stdout says which class ran and whether the kernels were loaded.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
import transformers


def first_subtoken_positions(word_ids) -> list[int]:
    positions, previous = [], None
    for i, word in enumerate(word_ids):
        if word is not None and word != previous:
            positions.append(i)
        previous = word
    return positions


@torch.no_grad()
def main(request_path: str, output_path: str) -> None:
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    torch.set_num_threads(request["threads"])
    folder, kind, max_length = request["folder"], request["kind"], request["max_length"]
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    model = getattr(transformers, request["auto_class"]).from_pretrained(folder, trust_remote_code=True).eval()
    rows, outputs = request["rows"], []
    for start in range(0, len(rows), 32):
        chunk = rows[start : start + 32]
        if kind == "token":
            enc = tokenizer(
                chunk,
                is_split_into_words=True,
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
        else:
            fields = [list(column) for column in zip(*chunk)]
            enc = tokenizer(*fields, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        logits = model(**enc).logits.float()
        if kind == "token":
            outputs.extend(logits[i, first_subtoken_positions(enc.word_ids(i))] for i in range(len(chunk)))
        else:
            outputs.append(logits.squeeze(-1) if kind == "regression" else logits)
    np.save(output_path, torch.cat(outputs).numpy())
    cls = type(model)
    print(json.dumps({"class": f"{cls.__module__}.{cls.__name__}", "kernels": "optimum_ro.sparse" in sys.modules}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
