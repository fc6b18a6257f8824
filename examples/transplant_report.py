"""Vocabulary transplant onto multilingual-e5-small, measured on Romanian text (no task training).

    python examples/transplant_report.py transplant   # 32k WordPiece + transplant -> runs/transplant/e5-ro-32k
    python examples/transplant_report.py probe        # tokens per word; MLM loss of a fitted head, frozen encoder
    optimum-ro pretrain --from runs/transplant/e5-ro-32k-head --text ../shared/data/ro/raw/train.txt.gz \
        --output runs/transplant/e5-ro-32k-adapted --max-minutes 20 ...   # short MLM adaptation
    python examples/transplant_report.py adapted      # the adapted model on the same probe
    python examples/transplant_report.py report       # results/transplant/{README.md, transplant.json}

The MLM comparison. e5-small ships without an MLM head, so every model is scored the same way: encoder and
token embeddings frozen, a fresh BERT prediction head (dense + LayerNorm + bias, decoder tied to the
embeddings) fitted for ``--head-steps`` on masked raw-corpus lines, then the cross-entropy of the masked
tokens of dev sentences of the tasks. Masking is whole-word: 15% of each sentence's whitespace words (the
same words for every tokenizer, fixed seed) have all their tokens masked, and a loss *per word* (the sum over
its tokens) puts tokenizers on one unit; it still favours fewer pieces per word (each piece is predicted
without the others), and per-token losses of different tokenizers do not compare at all. e5 is scored with its
vocabulary trimmed to the tokens that the raw corpus and the task train texts use (the vocabulary teacher A
trains with; a 250k-way softmax would also be 8x slower).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from optimum_ro.tasks import load_task, task_texts
from optimum_ro.tasks.specs import TASKS
from optimum_ro.tasks.transplant import corpus_lines, tokens_per_word, transplant_folder, transplant_vocabulary

RUNS = Path("runs/transplant")
RESULTS = Path("results/transplant")


def dev_texts_by_task(data: str) -> dict[str, list[str]]:
    out = {}
    for name, spec in TASKS.items():
        folder = Path(data) / spec.folder
        if not (folder / "dev.jsonl").is_file():
            continue
        rows = load_task(name, str(folder), splits=["validation"])["validation"]
        out[name] = [" ".join(v) if isinstance(v, list) else v for f in spec.text_fields for v in rows[f]]
    return out


def masked_features(model, tokenizer, texts, seed: int, max_length: int = 128, batch_size: int = 16):
    """Whole-word masking: 15% of each text's whitespace words (the same words for every tokenizer) have all
    their tokens masked. Returns the encoder's hidden states at the masked tokens, their true ids, and the
    masked word each belongs to (a running index), so losses can be summed per word."""
    rng = random.Random(seed)
    base = getattr(model, model.base_model_prefix)
    feats, labels, word_index = [], [], []
    words_seen = 0
    split = [t.split() for t in texts]
    chosen_words = [{w for w in range(len(ws)) if rng.random() < 0.15} for ws in split]
    order = sorted(range(len(texts)), key=lambda i: len(split[i]))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            enc = tokenizer(
                [split[i] for i in rows],
                is_split_into_words=True,
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            ids = enc["input_ids"]
            chosen = torch.zeros_like(ids, dtype=torch.bool)
            owner = torch.full_like(ids, -1)
            for b, i in enumerate(rows):
                word_ids = enc.word_ids(b)
                present = {w for w in word_ids if w is not None}
                last = max(present) if present else -1
                for w in sorted(chosen_words[i] & present):
                    if w == last and len(word_ids) >= max_length:
                        continue  # possibly cut by truncation
                    positions = [p for p, x in enumerate(word_ids) if x == w]
                    chosen[b, positions] = True
                    owner[b, positions] = words_seen
                    words_seen += 1
            masked = ids.masked_fill(chosen, tokenizer.mask_token_id)
            hidden = base(input_ids=masked, attention_mask=enc["attention_mask"]).last_hidden_state
            feats.append(hidden[chosen])
            labels.append(ids[chosen])
            word_index.append(owner[chosen])
    return torch.cat(feats), torch.cat(labels), torch.cat(word_index)


def fit_head(model, train, steps: int, batch_size: int = 256, lr: float = 3e-3, seed: int = 0):
    """Fit ``model.cls``'s transform and bias on frozen features; the tied decoder (the embeddings) stays."""
    torch.manual_seed(seed)
    head = model.cls.predictions
    head.transform.apply(model._init_weights)
    head.bias.data.zero_()
    params = list(head.transform.parameters()) + [head.bias]
    embeddings = model.get_input_embeddings().weight.detach()
    opt = torch.optim.Adam(params, lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 - step / steps)
    feats, labels, _ = train
    for _ in range(steps):
        idx = torch.randint(len(labels), (batch_size,))
        logits = head.transform(feats[idx]) @ embeddings.T + head.bias
        loss = F.cross_entropy(logits, labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    return loss.item()


def score_head(model, masked, chunk: int = 512) -> dict:
    """Mean loss per masked token and per masked word (the sum over the word's tokens), token accuracy."""
    head = model.cls.predictions
    embeddings = model.get_input_embeddings().weight.detach()
    feats, labels, words = masked
    losses, correct = [], 0
    with torch.no_grad():
        for i in range(0, len(labels), chunk):
            logits = head.transform(feats[i : i + chunk]) @ embeddings.T + head.bias
            losses.append(F.cross_entropy(logits, labels[i : i + chunk], reduction="none"))
            correct += (logits.argmax(-1) == labels[i : i + chunk]).sum().item()
    losses = torch.cat(losses)
    n_words = int(words.max().item()) + 1
    per_word = torch.zeros(n_words).index_add_(0, words, losses)
    return {
        "loss_per_token": round(losses.mean().item(), 4),
        "loss_per_word": round(per_word.mean().item(), 4),
        "token_accuracy": round(correct / len(labels), 4),
        "masked_tokens": len(labels),
        "masked_words": n_words,
    }


def probe(model, tokenizer, train_lines, eval_lines, steps: int, own_head: bool = False) -> dict:
    start = time.time()
    model.eval()
    train = masked_features(model, tokenizer, train_lines, seed=1)
    evaluation = masked_features(model, tokenizer, eval_lines, seed=2)
    result = {}
    if own_head:
        result["own_head"] = score_head(model, evaluation)
    fit_head(model, train, steps)
    result.update(score_head(model, evaluation), train_masked=len(train[1]), seconds=round(time.time() - start, 1))
    return result


def load_mlm(path):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    return AutoModelForMaskedLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stage", choices=["transplant", "probe", "adapted", "report"])
    p.add_argument("--model", default="models/multilingual-e5-small")
    p.add_argument("--data", default="../shared/data/ro")
    p.add_argument("--vocab-size", type=int, default=32000)
    p.add_argument("--head-steps", type=int, default=600)
    p.add_argument("--train-lines", type=int, default=2000)
    p.add_argument("--eval-lines", type=int, default=400)
    args = p.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    folder = RUNS / f"e5-ro-{args.vocab_size // 1000}k"
    raw = str(Path(args.data) / "raw" / "train.txt.gz")
    state_file = RUNS / "measurements.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}

    if args.stage == "transplant":
        start = time.time()
        report = transplant_folder(args.model, [raw], str(folder), args.vocab_size, task_data=args.data)
        state["transplant"] = dict(report, seconds=round(time.time() - start, 1))
    elif args.stage in ("probe", "adapted"):
        from transformers import AutoTokenizer

        from optimum_ro.distillation import trim_vocabulary

        rng = random.Random(0)
        raw_lines = corpus_lines([raw])
        train_lines = rng.sample(raw_lines, args.train_lines)
        dev = [t for texts in dev_texts_by_task(args.data).values() for t in texts]
        eval_lines = rng.sample([t for t in dev if 5 <= len(t.split()) <= 60], args.eval_lines)
        if args.stage == "probe":
            e5_tok = AutoTokenizer.from_pretrained(args.model)
            new_tok = AutoTokenizer.from_pretrained(folder)
            state["tokens_per_word_dev"] = {
                task: {"e5": round(tokens_per_word(e5_tok, t), 4), "new": round(tokens_per_word(new_tok, t), 4)}
                for task, t in [*dev_texts_by_task(args.data).items(), ("all", dev)]
            }
            print(json.dumps(state["tokens_per_word_dev"]))
            mlm = {}
            e5, _ = load_mlm(args.model)
            e5_lines = raw_lines + list(task_texts(args.data, "train"))
            e5, e5_trim = trim_vocabulary(e5, e5_tok, e5_lines)
            mlm["e5 (vocabulary trimmed to the corpus)"] = dict(
                probe(e5, e5_trim, train_lines, eval_lines, args.head_steps), vocab=len(e5_trim)
            )
            print(json.dumps(mlm))
            model, tok = load_mlm(folder)
            mlm["transplanted, mean of pieces, no adaptation"] = dict(
                probe(model, tok, train_lines, eval_lines, args.head_steps), vocab=len(tok)
            )
            print(json.dumps(mlm))
            if not (RUNS / f"{folder.name}-head").exists():  # the fitted head: the start of adaptation
                model.save_pretrained(RUNS / f"{folder.name}-head")
                tok.save_pretrained(RUNS / f"{folder.name}-head")
            base, _ = load_mlm(args.model)
            base = transplant_vocabulary(base, e5_tok, tok, method="random")
            mlm["random new embeddings (baseline), no adaptation"] = dict(
                probe(base, tok, train_lines, eval_lines, args.head_steps), vocab=len(tok)
            )
            state["mlm_probe"] = mlm
        else:
            adapted = RUNS / f"{folder.name}-adapted"
            model, tok = load_mlm(adapted)
            state.setdefault("mlm_probe", {})["transplanted + MLM adaptation"] = dict(
                probe(model, tok, train_lines, eval_lines, args.head_steps, own_head=True), vocab=len(tok)
            )
            run = json.loads((adapted / "pretrain_results.json").read_text())
            state["adaptation"] = {
                k: run[k] for k in ("steps", "train_seconds", "train_loss", "final_loss", "tokens_seen")
            } | {k: run["config"][k] for k in ("batch_size", "max_length", "learning_rate", "max_minutes")}
        state["probe_setup"] = {
            "head_steps": args.head_steps,
            "head_batch": 256,
            "train_lines (raw corpus, seeded sample)": args.train_lines,
            "eval_sentences (task dev texts, seeded sample)": args.eval_lines,
            "mask_rate": 0.15,
            "max_length": 128,
        }
        print(json.dumps(state.get("mlm_probe"), indent=1))
    else:
        from transformers import AutoModel

        state["parameters_without_mlm_head"] = {
            name: sum(t.numel() for t in AutoModel.from_pretrained(path, add_pooling_layer=False).parameters())
            for name, path in [("e5", args.model), ("transplanted", folder)]
        }
        state["hardware"] = (
            f"Intel Xeon Emerald Rapids, 2 cores shared by 5 jobs, torch threads 1 ({platform.machine()})"
        )
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "transplant.json").write_text(json.dumps(state, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {RESULTS / 'transplant.json'}; README.md is written by hand from it")
    RUNS.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(state, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
