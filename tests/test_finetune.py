import json

import pytest
from card_checks import load_card_metadata, result_metrics

from optimum_ro.tasks.finetune import FinetuneConfig, finetune


@pytest.mark.parametrize("task", ["pos", "sts", "sentiment"])
def test_finetune_writes_model_folder_and_results(task, tiny_bert_dir, fixtures_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer

    out = tmp_path / task
    res = finetune(
        FinetuneConfig(
            model=str(tiny_bert_dir),
            task=task,
            data=str(fixtures_dir / "ro" / task),
            output_dir=str(out),
            max_steps=4,
            batch_size=8,
            save_steps=2,
        )
    )
    saved = json.loads((out / "eval_results.json").read_text())
    assert saved["train_steps"] == 4 and saved["parameters"] > 0
    main = {"pos": "accuracy", "sts": "pearson", "sentiment": "accuracy"}[task]
    assert 0.0 <= abs(saved["validation"][main]) <= 1.0 and main in saved["test"]
    cls = AutoModelForTokenClassification if task == "pos" else AutoModelForSequenceClassification
    model = cls.from_pretrained(out)
    assert AutoTokenizer.from_pretrained(out).is_fast
    if task == "pos":
        assert model.config.id2label[11] == "PROPN"
    if task == "sts":
        assert model.config.num_labels == 1 and model.config.problem_type == "regression"
    assert res["validation"] == saved["validation"]
    card = (out / "README.md").read_text()
    assert f"fine-tuned for Romanian {task}" in card and f"| validation | {main} |" in card
    license = {"pos": "cc-by-sa-4.0", "sts": "cc-by-sa-4.0", "sentiment": "cc-by-nc-sa-4.0"}[task]
    load_card_metadata(out, language="ro", license=license, base_model=tiny_bert_dir.name)
    assert result_metrics(out)[("validation", main)] == pytest.approx(saved["validation"][main])


def test_finetune_resumes_from_last_checkpoint(tiny_bert_dir, fixtures_dir, tmp_path):
    out = tmp_path / "run"
    cfg = FinetuneConfig(
        model=str(tiny_bert_dir),
        task="dialect",
        data=str(fixtures_dir / "ro" / "dialect"),
        output_dir=str(out),
        max_steps=2,
        batch_size=8,
        save_steps=2,
    )
    finetune(cfg)
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    cfg.max_steps = 3
    res = finetune(cfg)
    assert res["train_steps"] == 3 and res["resumed_from"].endswith("checkpoint-2")


def test_eval_subset_is_a_seeded_random_sample_not_the_first_rows():
    import datasets

    from optimum_ro.tasks.finetune import sample_subset

    ds = datasets.Dataset.from_dict({"label": [0] * 30 + [1] * 30})  # sorted by label, like LaRoSeDa's dev file
    sub = sample_subset(ds, 20, seed=42)
    assert len(sub) == 20 and set(sub["label"]) == {0, 1}
    assert sub["label"] == sample_subset(ds, 20, seed=42)["label"]
    assert len(sample_subset(ds, 100, seed=0)) == 60


def test_new_head_gets_its_own_learning_rate(tiny_bert_dir, fixtures_dir, tmp_path):
    from transformers import TrainingArguments

    from optimum_ro.tasks import build_model
    from optimum_ro.tasks.finetune import make_trainer_class

    model = build_model(str(tiny_bert_dir), "ner")
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-5, report_to="none", use_cpu=True)
    trainer = make_trainer_class()(model=model, args=args, head_learning_rate=1e-3)
    opt = trainer.create_optimizer()
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert lr_of[id(model.classifier.weight)] == 1e-3
    assert lr_of[id(model.bert.encoder.layer[0].attention.self.query.weight)] == 1e-5
    assert sum(len(g["params"]) for g in opt.param_groups) == sum(1 for p in model.parameters() if p.requires_grad)
