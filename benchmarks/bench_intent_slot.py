"""A joint intent + slot model, dense and sparse: latency at batch 1 and what the scores lose.

    python benchmarks/bench_intent_slot.py --model runs/student-pruned --data ../shared/data/nlu/massive_ro --split dev
    python benchmarks/bench_intent_slot.py          # a random 4x384 student pruned 80%: latency only

``--model`` is a block-pruned ``BertForIntentSlot`` folder; its sparse twins are built with ``to_sparse_model``:
float32 16x1 and int8 1x4, each where the model has enough zero blocks of that shape (a model pruned with 16x1
blocks has few 1x4 zero blocks: its int8 twin is skipped, and said so). Without ``--model`` the encoder of a random
student is pruned twice (16x1 for float32, 1x4 for int8) with ``prune_model``: latency only, scores need trained
weights. Latency: one utterance (the median-length one of ``--data``, else 16 tokens) at batch 1, every model in
one round-robin, min and median of the warm calls. Scores (with ``--data``): intent accuracy, slot F1 (seqeval)
and semantic error rate on ``--split``, and the share of utterances parsed exactly as the dense model parses them.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics

import torch
from transformers import AutoTokenizer, BertConfig

from optimum_ro.metrics.nlu import nlu_scores
from optimum_ro.models import BertForIntentSlot, to_sparse_model
from optimum_ro.pruning import BlockPruningConfig, prune_model
from optimum_ro.tasks.nlu import collate_nlu, decode_nlu, encode_nlu, load_nlu

from spmm.timing import cpu_info, time_round_robin


def random_student(layers: int, hidden: int, sparsity: float) -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=8000,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 32,
        intermediate_size=4 * hidden,
        max_position_embeddings=128,
    )
    config.intent_labels = [f"intent{i}" for i in range(60)]
    config.slot_labels = ["O"] + [f"{p}-slot{i}" for i in range(55) for p in "BI"]
    base = BertForIntentSlot(config).eval()
    pruned16 = prune_model(copy.deepcopy(base), BlockPruningConfig(block_shape="16x1", target_sparsity=sparsity))
    pruned4 = prune_model(copy.deepcopy(base), BlockPruningConfig(block_shape="1x4", target_sparsity=sparsity))
    return {
        "dense (pruned 16x1)": pruned16,
        "sparse fp32 16x1": to_sparse_model(pruned16, torch.float32),
        "sparse int8 1x4": to_sparse_model(pruned4, torch.int8),
    }


def twins(model) -> dict[str, torch.nn.Module]:
    models = {"dense": model}
    for name, dtype in (("sparse fp32 16x1", torch.float32), ("sparse int8 1x4", torch.int8)):
        try:
            models[name] = to_sparse_model(model, dtype)
        except ValueError as err:
            print(f"{name}: skipped ({err})")
    return models


def parameters(model) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    embeddings = sum(p.numel() for p in model.bert.embeddings.parameters())
    return {"with_embeddings": total, "without_embeddings": total - embeddings}


@torch.inference_mode()
def parse_all(model, encoded, labels, batch_size=64):
    intents, slots = [], []
    for i in range(0, len(encoded), batch_size):
        batch = collate_nlu([encoded[j] for j in range(i, min(i + batch_size, len(encoded)))])
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        intents.append(out.intent_logits.float())
        slots.append(torch.nn.functional.pad(out.slot_logits.float(), (0, 0, 0, 128 - out.slot_logits.shape[1])))
    return decode_nlu(torch.cat(intents), torch.cat(slots), encoded, labels)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", help="a block-pruned BertForIntentSlot folder (default: a random student)")
    p.add_argument("--data", help="an NLU folder (../shared/data/nlu format) to score on")
    p.add_argument("--split", default="dev")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--sparsity", type=float, default=0.8, help="random student only")
    p.add_argument("--layers", type=int, default=4, help="random student only")
    p.add_argument("--hidden", type=int, default=384, help="random student only")
    p.add_argument("--json", help="write the result here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.model:
        models = twins(BertForIntentSlot.from_pretrained(args.model).eval())
        tokenizer = AutoTokenizer.from_pretrained(args.model)
    else:
        if args.data:
            raise SystemExit("--data needs --model: a random student has nothing to score")
        models, tokenizer = random_student(args.layers, args.hidden, args.sparsity), None
    result = {"cpu": cpu_info(), "threads": args.threads, "models": {}}
    if args.data:
        data = load_nlu(args.data, splits=[args.split])
        records = data[args.split]
        encoded = encode_nlu(records, tokenizer, data.labels, max_length=128)
        lengths = [len(f["input_ids"]) for f in encoded.features]
        one = encoded.features[lengths.index(sorted(lengths)[len(lengths) // 2])]
        example = {
            "input_ids": torch.tensor([one["input_ids"]]),
            "attention_mask": torch.tensor([one["attention_mask"]]),
        }
    else:
        ids = torch.randint(5, 8000, (1, 16), generator=torch.Generator().manual_seed(0))
        example = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    with torch.inference_mode():
        times = time_round_robin({n: (lambda m=m: m(**example)) for n, m in models.items()}, args.repeats)
    dense_parse = None
    for name, model in models.items():
        row = {
            "min_ms": times[name]["min_ms"],
            "median_ms": times[name]["median_ms"],
            "tokens": int(example["input_ids"].shape[1]),
        }
        if name.startswith("dense"):
            row["parameters"] = parameters(model)
        if args.data:
            intents, slots = parse_all(model, encoded, data.labels)
            row.update(nlu_scores([r["intent"] for r in records], intents, [r["slots"] for r in records], slots))
            parse = list(zip(intents, map(tuple, slots)))
            dense_parse = dense_parse or parse
            row["same_parse_as_dense"] = statistics.mean(a == b for a, b in zip(parse, dense_parse))
        result["models"][name] = row
    print(f"CPU: {result['cpu'].get('model', '?')}, {args.threads} threads, batch 1, {row['tokens']} tokens")
    print("| model | min ms | median ms | intent acc | slot F1 | SER | same parse as dense |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, row in result["models"].items():
        scores = [
            f"{row[k]:.4f}" if k in row else "–"
            for k in ("intent_accuracy", "slot_f1", "semantic_error_rate", "same_parse_as_dense")
        ]
        print(f"| {name} | {row['min_ms']:.2f} | {row['median_ms']:.2f} | " + " | ".join(scores) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
