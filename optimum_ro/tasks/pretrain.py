"""Masked-LM pretraining: a new WordPiece BERT from scratch, or continued pretraining.

    # a Romanian BERT from scratch (tokenizer trained on the same text)
    optimum-ro pretrain --text ../shared/data/ro/raw/train.txt.gz --output runs/ro-bert
    # in-domain "stage 2": continue MLM pretraining of an existing model
    optimum-ro pretrain --from runs/ro-bert --text in_domain.txt --output runs/ro-bert-stage2

Python: ``train_wordpiece_tokenizer(lines, vocab_size)`` and ``pretrain(PretrainConfig(...))``.
Texts are packed into blocks of ``max_length`` tokens; checkpoints are written every
``save_steps`` and a run started again with the same output folder resumes.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

logger = logging.getLogger("optimum_ro.pretrain")
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def read_lines(paths, max_lines: int | None = None):
    """Non-empty lines of plain or gzip text files (a list, or one comma-separated string)."""
    count = 0
    items = paths if isinstance(paths, (list, tuple)) else [paths]
    for path in [p for item in items for p in str(item).split(",") if p]:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"text file not found: {path}")
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line:
                    yield line
                    count += 1
                    if max_lines and count >= max_lines:
                        return


def train_wordpiece_tokenizer(lines, vocab_size: int = 16000, lowercase: bool = False, min_frequency: int = 2):
    """A fast BERT WordPiece tokenizer (cased by default: Romanian diacritics are kept)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.NFC(),
            normalizers.BertNormalizer(
                lowercase=lowercase, strip_accents=False, clean_text=True, handle_chinese_chars=True
            ),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS, show_progress=True
    )
    tok.train_from_iterator(lines, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )


@dataclass
class PretrainConfig:
    text: str
    output_dir: str = "runs/pretrain"
    from_model: str | None = None  # continue pretraining this model instead of starting from scratch
    vocab_size: int = 16000
    num_layers: int = 4
    hidden_size: int = 256
    num_heads: int = 4
    intermediate_size: int = 1024
    max_length: int = 128
    max_lines: int | None = None
    batch_size: int = 32
    learning_rate: float = 5e-4
    max_steps: int = 2000
    warmup_steps: int = 100
    mlm_probability: float = 0.15
    save_steps: int = 200
    max_minutes: float = 0.0  # > 0: stop (and save) after this wall time, a budget for small machines
    head_only: bool = False  # train the MLM head only, the encoder frozen: gives a headless encoder (e5) a head
    heldout_text: str | None = None  # lines scored with the masked-LM loss before and after training
    seed: int = 42


def time_budget_callback(minutes: float):
    """A ``TrainerCallback`` that ends training once ``minutes`` of wall time have passed."""
    from transformers import TrainerCallback

    class TimeBudget(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.deadline = time.time() + 60 * minutes

        def on_step_end(self, args, state, control, **kwargs):
            if time.time() >= self.deadline:
                logger.info("time budget of %.1f min reached at step %d", minutes, state.global_step)
                control.should_training_stop = True
                control.should_save = True

    return TimeBudget()


def masked_lm_loss(model, inputs):
    """MLM loss computing vocabulary logits only at masked positions.

    ``BertForMaskedLM`` projects every position onto the vocabulary; with 15% masking
    that is ~85% wasted work, the largest cost of a small BERT. Same loss value.
    """
    import torch.nn.functional as F

    if not hasattr(model, "cls"):  # not a BERT-style head: let the model compute its own loss
        return model(**inputs).loss
    labels = inputs.pop("labels")
    hidden = getattr(model, model.base_model_prefix)(**inputs).last_hidden_state
    masked = labels != -100
    logits = model.cls(hidden[masked])
    return F.cross_entropy(logits.float(), labels[masked])


def make_mlm_trainer_class():
    from transformers import Trainer

    class MaskedOnlyMLMTrainer(Trainer):
        """``Trainer`` whose loss runs the MLM head only on masked tokens (see :func:`masked_lm_loss`)."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = masked_lm_loss(model, dict(inputs))
            return (loss, None) if return_outputs else loss

    return MaskedOnlyMLMTrainer


class PackedBlocks:
    """A map-style dataset of ``[CLS] ... [SEP]`` blocks: ``{"input_ids", "special_tokens_mask"}`` per item.
    ``bodies``: one row of token ids (without the special tokens) per block."""

    def __init__(self, bodies, cls_id: int, sep_id: int):
        self.bodies, self.cls_id, self.sep_id = bodies, cls_id, sep_id

    def __len__(self) -> int:
        return len(self.bodies)

    def __getitem__(self, i: int) -> dict:
        body = [int(t) for t in self.bodies[i]]
        return {"input_ids": [self.cls_id, *body, self.sep_id], "special_tokens_mask": [1] + [0] * len(body) + [1]}


def pack_blocks(lines, tokenizer, max_length: int, batch_size: int = 1000) -> PackedBlocks:
    """Tokenize ``lines`` and pack their tokens, end to end, into blocks of ``max_length`` (special tokens
    included); the last partial block is dropped unless it is the only one. Needs only the tokenizer."""
    import numpy as np
    from tqdm.auto import tqdm

    body = max_length - 2
    if body < 1:
        raise ValueError(f"max_length must be at least 3 ([CLS] token [SEP]), got {max_length}")
    lines = list(lines)
    parts = []
    for i in tqdm(range(0, len(lines), batch_size), desc="tokenizing", unit="batch"):
        ids = tokenizer(lines[i : i + batch_size], add_special_tokens=False)["input_ids"]
        parts.append(np.fromiter((t for row in ids for t in row), dtype=np.int32))
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
    n = len(flat) // body
    bodies = flat[: n * body].reshape(n, body) if n else ([flat] if len(flat) else [])
    return PackedBlocks(bodies, tokenizer.cls_token_id, tokenizer.sep_token_id)


def pretrain(cfg: PretrainConfig, training_args: dict | None = None) -> dict:
    """MLM-pretrain (or continue, ``cfg.from_model``); ``training_args`` override the ``TrainingArguments`` this
    builds (any field). Returns the summary dict."""
    from transformers import DataCollatorForLanguageModeling

    from ..commands.runs import resume_checkpoint, save_results

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = list(read_lines(cfg.text, cfg.max_lines))
    logger.info("%d lines of text", len(lines))
    tokenizer, model = _tokenizer_and_model(cfg, lines, out)
    if cfg.head_only:
        frozen = _freeze_encoder(model)
        logger.info("head only: %d encoder parameters frozen", frozen)
    heldout = list(read_lines(cfg.heldout_text)) if cfg.heldout_text else []
    resume = resume_checkpoint(out)
    before = _heldout_before(model, tokenizer, heldout, cfg, out) if heldout else None
    ds = pack_blocks(lines, tokenizer, cfg.max_length)
    logger.info("%d blocks of %d tokens", len(ds), cfg.max_length)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=cfg.mlm_probability)
    args = _training_arguments(cfg, out, training_args)
    callbacks = [time_budget_callback(cfg.max_minutes)] if cfg.max_minutes > 0 else []
    trainer_cls = make_mlm_trainer_class()
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=ds,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    start = time.time()
    result = trainer.train(resume_from_checkpoint=resume)
    seconds = time.time() - start
    trainer.save_model(str(out))
    tokenizer.save_pretrained(str(out))
    summary = {
        "config": asdict(cfg),
        "train_seconds": round(seconds, 1),
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "final_loss": _last_logged_loss(trainer),
        "tokens_seen": result.global_step * cfg.batch_size * cfg.max_length,
        "blocks": len(ds),
        "parameters": sum(p.numel() for p in model.parameters()),
        "resumed_from": resume,
    }
    if heldout:
        summary["heldout_mlm"] = {"before": before, "after": _heldout_loss(model, tokenizer, heldout, cfg)}
    from .model_card import write_pretrain_card

    save_results(trainer, out, "pretrain_results.json", summary, write_pretrain_card)
    return summary


def _freeze_encoder(model) -> int:
    """Freeze every parameter outside the MLM head (word embeddings included; a tied decoder stays frozen with
    them, only the head's transform and bias train); returns how many were frozen."""
    frozen = 0
    for name, p in model.named_parameters():
        if not name.startswith("cls."):
            p.requires_grad_(False)
            frozen += p.numel()
    return frozen


def _heldout_before(model, tokenizer, lines: list[str], cfg: PretrainConfig, out: Path) -> dict:
    """The held-out loss of the model as loaded, measured once and kept in ``out`` (a resumed run's model has
    already trained, so it reads the first measurement back)."""
    path = out / "heldout_before.json"
    if path.exists():
        return json.loads(path.read_text())
    before = _heldout_loss(model, tokenizer, lines, cfg)
    path.write_text(json.dumps(before))
    return before


def _heldout_loss(model, tokenizer, lines: list[str], cfg: PretrainConfig) -> dict:
    from .mlm_eval import heldout_mlm_loss

    return heldout_mlm_loss(model, tokenizer, lines, cfg.max_length, cfg.mlm_probability, seed=cfg.seed)


def _tokenizer_and_model(cfg: PretrainConfig, lines: list[str], out: Path):
    """The model to pretrain and its tokenizer: ``cfg.from_model`` to continue, else a new BERT with a WordPiece
    vocabulary trained on ``lines`` (or the one saved in ``out/tokenizer`` when resuming)."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer, BertConfig, BertForMaskedLM

    tok_dir = out / "tokenizer"
    if cfg.from_model:
        return AutoTokenizer.from_pretrained(cfg.from_model), AutoModelForMaskedLM.from_pretrained(cfg.from_model)
    if (tok_dir / "tokenizer.json").exists():  # resume: same tokenizer as the checkpoints
        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    else:
        tokenizer = train_wordpiece_tokenizer(lines, cfg.vocab_size)
        tokenizer.save_pretrained(tok_dir)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        intermediate_size=cfg.intermediate_size,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(cfg.seed)
    model = BertForMaskedLM(config)
    return tokenizer, model


def _training_arguments(cfg: PretrainConfig, out: Path, overrides: dict | None = None):
    """``TrainingArguments`` of the MLM run: checkpoints in ``out/checkpoints``, linear schedule, CPU unless CUDA;
    ``overrides`` (Trainer flags given on the command line) win."""
    from transformers import TrainingArguments

    from ..commands.training import project_training_arguments

    args = project_training_arguments(out, cfg, warmup_steps=cfg.warmup_steps, logging_steps=50)
    return TrainingArguments(**{**args, **(overrides or {})})


def _last_logged_loss(trainer):
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return losses[-1] if losses else None


def add_parser(subparsers):
    from ..commands.training import add_dataclass_flags, add_trainer_flags

    p = subparsers.add_parser("pretrain", help="MLM-pretrain a WordPiece BERT from scratch, or continue (--from)")
    p.add_argument(
        "--text",
        default=None,
        help="comma-separated .txt/.txt.gz files, one text per line "
        "(default: ../shared/data/ro/raw/train.txt.gz when present)",
    )
    settings = {
        "output_dir": {"aliases": ["--output"], "required": True, "help": "the model folder to write"},
        "from_model": {"aliases": ["--from"], "help": "continue MLM pretraining of this model"},
        "max_minutes": {"help": "> 0: stop (and save) after this wall time"},
    }
    add_dataclass_flags(p, PretrainConfig, skip=("text",), extra=settings)
    add_trainer_flags(p)
    p.set_defaults(func=_run)
    return p


def _run(args) -> int:
    if not args.text:
        default = Path("../shared/data/ro/raw/train.txt.gz")
        if not default.exists():
            raise SystemExit("pass --text <file.txt[.gz]> (one text per line)")
        args.text = str(default)
    from ..commands import UsageError, check_model_folder

    for part in args.text.split(","):
        if not Path(part).is_file():
            raise UsageError(f"--text {part}: no such file; give .txt/.txt.gz file(s), one text per line.")
    if args.from_model:
        check_model_folder(args.from_model, "--from")
    names = {f.name for f in fields(PretrainConfig)}
    from ..commands.training import finish_run, trainer_overrides

    cfg = PretrainConfig(**{k: v for k, v in vars(args).items() if k in names})
    summary = pretrain(cfg, training_args=trainer_overrides(args))
    return finish_run(args, cfg.output_dir, summary, ("steps", "train_seconds", "final_loss", "parameters"))
