"""The evaluate modules stand alone (numpy/scipy only, no optimum_ro, seqeval or scikit-learn) and carry the files
a Hub Space needs; their numbers equal the package's metrics."""

import importlib.util
import json
import math
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import metadata_load

from optimum_ro.metrics.loyalty import label_loyalty, probability_loyalty, regression_loyalty
from optimum_ro.metrics.nlu import nlu_scores
from optimum_ro.metrics.tasks import task_scores

METRICS = Path(__file__).resolve().parents[1] / "optimum_ro" / "metrics"
FRAMES = [{"intent": "a", "slots": ["B-x", "I-x", "O"]}, {"intent": "b", "slots": ["I-y", "B-y"]}]
PRED_FRAMES = [{"intent": "a", "slots": ["B-x", "I-x", "O"]}, {"intent": "a", "slots": ["I-y", "O"]}]
# module folder, configuration, compute() arguments, the package's answer
CASES = {
    "label_loyalty": (
        "loyalty/label_loyalty",
        None,
        dict(predictions=[[1, 2, -100], [0, 3, 3]], references=[[1, 3, -100], [0, 3, 1]]),
        {"label_loyalty": label_loyalty([[1, 2, -100], [0, 3, 3]], [[1, 3, -100], [0, 3, 1]])},
    ),
    "probability_loyalty": (
        "loyalty/probability_loyalty",
        None,
        dict(predictions=[[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]], references=[[0.9, 0.1], [0.2, 0.8], [1.0, 0.0]]),
        {
            "probability_loyalty": probability_loyalty(
                [[0.9, 0.1], [0.2, 0.8], [1.0, 0.0]], [[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]]
            )
        },
    ),
    "regression_loyalty": (
        "loyalty/regression_loyalty",
        None,
        dict(predictions=[1.0, 4.0, 2.5], references=[1.5, 4.0, 2.0]),
        regression_loyalty([1.0, 4.0, 2.5], [1.5, 4.0, 2.0]),
    ),
    "romanian_tasks": (
        "romanian_tasks",
        "ner",
        dict(predictions=[["B-PER", "I-PER", "O", "I-LOC"]], references=[["B-PER", "I-PER", "O", "B-LOC"]]),
        task_scores("ner", [["B-PER", "I-PER", "O", "I-LOC"]], [["B-PER", "I-PER", "O", "B-LOC"]]),
    ),
    "joint_nlu": (
        "joint_nlu",
        None,
        dict(predictions=PRED_FRAMES, references=FRAMES),
        nlu_scores(
            [f["intent"] for f in FRAMES],
            [f["intent"] for f in PRED_FRAMES],
            [f["slots"] for f in FRAMES],
            [f["slots"] for f in PRED_FRAMES],
        ),
    ),
}
BLOCKER = """
import importlib.abc, sys
class Blocker(importlib.abc.MetaPathFinder):  # as on a machine (a Space) without these packages
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"optimum_ro", "seqeval", "sklearn"}:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)")
sys.meta_path.insert(0, Blocker())
"""


@pytest.mark.parametrize("name", sorted(CASES))
def test_module_runs_without_optimum_ro_and_matches_the_package(name, tmp_path):
    folder, config, kwargs, expected = CASES[name]
    copy = tmp_path / name  # the module as pushed to the Hub: its folder only
    shutil.copytree(METRICS / folder, copy, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    script = BLOCKER + (
        "import json, evaluate\n"
        f"module = evaluate.load({str(copy)!r}{', ' + repr(config) if config else ''})\n"
        f"print('RESULT', json.dumps(module.compute(**{kwargs!r})))\n"
        "assert 'optimum_ro' not in sys.modules\n"
    )
    env = {"HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules"), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.split("RESULT", 1)[1])
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert (math.isnan(got[key]) and math.isnan(value)) or got[key] == pytest.approx(value, abs=1e-9), key


@pytest.mark.parametrize("name", sorted(CASES))
def test_module_has_the_files_a_space_needs(name):
    folder = METRICS / CASES[name][0]
    meta = metadata_load(folder / "README.md")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and "evaluate" in meta["tags"]
    app = (folder / "app.py").read_text()
    assert "launch_gradio_widget" in app and f'with_name("{folder.name}.py")' in app
    requirements = (folder / "requirements.txt").read_text().split()
    assert any(r.startswith("evaluate") for r in requirements)
    assert not any(r.startswith(("optimum", "seqeval", "scikit")) for r in requirements)


def _module(folder):
    path = METRICS / folder / f"{Path(folder).name}.py"
    spec = importlib.util.spec_from_file_location(f"standalone_{Path(folder).name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _random_tags(rng, n):
    return [rng.choice(["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC"]) for _ in range(n)]


def test_entity_rules_match_seqeval_on_random_tag_sequences():
    tasks, nlu = _module("romanian_tasks"), _module("joint_nlu")
    rng = random.Random(0)
    for _ in range(300):
        lengths = [rng.randint(1, 7) for _ in range(rng.randint(1, 4))]
        gold = [_random_tags(rng, n) for n in lengths]
        pred = [_random_tags(rng, n) for n in lengths]
        assert tasks.ner_scores(pred, gold) == pytest.approx(task_scores("ner", pred, gold))
        assert nlu.slot_f1(gold, pred) == pytest.approx(
            nlu_scores(["i"] * len(gold), ["i"] * len(gold), gold, pred)["slot_f1"]
        )


def test_classification_and_regression_scores_match_scikit_learn_and_scipy():
    tasks = _module("romanian_tasks")
    rng = random.Random(1)
    for _ in range(50):
        gold = [rng.choice("abcd") for _ in range(rng.randint(1, 30))]
        pred = [rng.choice("abce") for _ in gold]
        assert tasks.task_scores("dialect", pred, gold) == pytest.approx(task_scores("dialect", pred, gold))
        scores = [rng.uniform(0, 5) for _ in gold]
        noisy = [s + rng.gauss(0, 1) for s in scores]
        assert tasks.task_scores("sts", noisy, scores) == pytest.approx(task_scores("sts", noisy, scores))
        assert tasks.task_scores("pos", [pred], [gold]) == pytest.approx(task_scores("pos", [pred], [gold]))
