"""The tokenizer of a sparse folder loads as users load it: ``AutoTokenizer`` never stops at transformers' "run the
custom code? [y/N]" prompt where a user has said how to treat the folder's code, and it tokenizes exactly as the
tokenizer that was saved. Both folder kinds (``sparse_bert`` and ``sparse_bert_intent_slot``); ``AutoModel*`` and
``pipeline`` with ``trust_remote_code=True`` keep loading the sparse classes.

Without optimum-ro imported, transformers 5 loads ``config.json`` (whose config class is the folder's remote code)
inside ``AutoTokenizer.from_pretrained`` before it reads ``tokenizer_config.json``, so a plain call asks; no setting
in the folder skips that read (``tokenizer_class`` in ``tokenizer_config.json`` did in transformers 4)."""

import builtins
import json
import os
import subprocess
import sys

import pytest
import torch
from test_sparse_intent_slot import pruned_intent_slot
from test_sparse_models import pruned_bert
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from optimum_ro.models import save_sparse_pretrained
from optimum_ro.testing import tiny_wordpiece_tokenizer

TEXTS = ["ana are mere", "pere și mere, ana!", "xyz necunoscut"]
# kind -> (dense model builder, Auto class a user names, pipeline task or None)
KINDS = {
    "sparse_bert": (pruned_bert, "AutoModelForSequenceClassification", "text-classification"),
    "sparse_bert_intent_slot": (pruned_intent_slot, "AutoModel", None),
}

# a fresh process on a machine without optimum-ro, where any prompt for remote code is counted and refused
FRESH_PROCESS = """
import builtins, json, sys
sys.modules["optimum_ro"] = None
prompts = []
def refuse(message=""):
    prompts.append(message)
    raise EOFError("no terminal")
builtins.input = refuse
import transformers
from transformers import AutoTokenizer, pipeline
req = json.load(open(sys.argv[1]))
folder, out = req["folder"], {}
def load_tokenizer(name, **kwargs):
    prompts.clear()
    tok = AutoTokenizer.from_pretrained(folder, **kwargs)
    out[name] = {"ids": tok(req["texts"])["input_ids"], "prompts": len(prompts)}
load_tokenizer("plain")
load_tokenizer("trusted", trust_remote_code=True)
prompts.clear()
model = getattr(transformers, req["auto"]).from_pretrained(folder, trust_remote_code=True)
out["model"] = type(model).__name__
if req["task"]:
    pipe = pipeline(req["task"], model=folder, trust_remote_code=True)
    out["pipeline"] = {"model": type(pipe.model).__name__, "results": pipe(req["texts"])}
out["prompts_after"] = len(prompts)
print("RESULT", json.dumps(out))
"""


def _tokenizer(vocab_size: int):
    tok = tiny_wordpiece_tokenizer(["ana", "are", "mere", "pere", "și"])
    assert len(tok) <= vocab_size
    return tok


@pytest.fixture(scope="module", params=list(KINDS))
def folder(request, tmp_path_factory):
    """A sparse folder of each kind with its tokenizer; the source tokenizer's ids of ``TEXTS``."""
    build, auto, task = KINDS[request.param]
    model = build()
    tok = _tokenizer(model.config.vocab_size)
    path = tmp_path_factory.mktemp(request.param) / "sparse"
    save_sparse_pretrained(model, path, tokenizer=tok)
    assert json.loads((path / "config.json").read_text())["model_type"] == request.param
    return path, tok(TEXTS)["input_ids"], auto, task


@pytest.fixture(scope="module")
def fresh_process(folder, tmp_path_factory):
    path, _, auto, task = folder
    work = tmp_path_factory.mktemp("fresh")
    (work / "request.json").write_text(json.dumps({"folder": str(path), "texts": TEXTS, "auto": auto, "task": task}))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(work / "modules")}
    run = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(work / "request.json")],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.split("RESULT", 1)[1])


def test_with_optimum_ro_imported_a_plain_autotokenizer_call_does_not_prompt(folder, monkeypatch):
    path, expected, _, _ = folder
    prompts = []

    def refuse(message=""):  # transformers turns any error here into a refusal, so count the calls
        prompts.append(message)
        raise EOFError("no terminal")

    monkeypatch.setattr(builtins, "input", refuse)
    tok = AutoTokenizer.from_pretrained(path)
    assert prompts == []  # the registered config class is local code: nothing to ask
    assert tok(TEXTS)["input_ids"] == expected


def test_without_optimum_ro_the_tokenizer_model_and_pipeline_load_with_trust_remote_code(folder, fresh_process):
    path, expected, auto, task = folder
    assert fresh_process["trusted"] == {"ids": expected, "prompts": 0}
    assert fresh_process["plain"]["ids"] == expected  # a refused prompt still leaves the right tokenizer
    assert fresh_process["model"].startswith("SparseBertFor")
    assert fresh_process["prompts_after"] == 0
    if task:
        assert fresh_process["pipeline"]["model"] == fresh_process["model"]
        model = AutoModelForSequenceClassification.from_pretrained(path).eval()
        with torch.no_grad():
            probs = model(**AutoTokenizer.from_pretrained(path)(TEXTS, return_tensors="pt", padding=True)).logits
        probs = probs.softmax(-1)
        for got, row in zip(fresh_process["pipeline"]["results"], probs):
            assert got["label"] == model.config.id2label[int(row.argmax())]
            assert got["score"] == pytest.approx(float(row.max()), abs=1e-5)


@pytest.mark.xfail(
    strict=True,
    reason="transformers 5 loads config.json (remote-code config class) inside AutoTokenizer before the tokenizer "
    "files; no folder setting skips it. Passing means transformers changed: simplify the sparse card's snippet",
)
def test_without_optimum_ro_a_plain_autotokenizer_call_does_not_prompt(fresh_process):
    assert fresh_process["plain"]["prompts"] == 0
