"""Cards built with huggingface_hub.ModelCard: license from the data, Hub ids not paths, model-index results."""

import pytest
from card_checks import load_card_metadata, result_metrics

from optimum_ro.hub.cards import TASK_DATA, base_model_id, build_model_card, derived_license


@pytest.mark.parametrize(
    "task, base, license",
    [
        ("sentiment", "multilingual-e5-small", "cc-by-nc-sa-4.0"),  # LaRoSeDa is non-commercial
        ("dialect", None, "cc-by-nc-sa-4.0"),  # so is MOROCO
        ("pos", "multilingual-e5-small", "cc-by-sa-4.0"),
        ("ner", "multilingual-e5-small", "mit"),  # RONEC and e5 are both MIT
        ("ner", "all-MiniLM-L6-v2", "apache-2.0"),  # the base model's license is the stricter one
        ("mlm", None, "cc-by-sa-4.0"),
    ],
)
def test_license_is_the_most_restrictive_of_data_and_base_model(task, base, license):
    assert derived_license(TASK_DATA[task], base_model_id(base)) == license


def test_base_model_is_a_hub_id_or_a_name_never_a_path(tmp_path):
    assert base_model_id("multilingual-e5-small") == "intfloat/multilingual-e5-small"
    assert base_model_id(str(tmp_path / "models" / "multilingual-e5-small")) == "intfloat/multilingual-e5-small"
    (tmp_path / "runs" / "teacher-pos").mkdir(parents=True)
    assert base_model_id(str(tmp_path / "runs" / "teacher-pos")) == "teacher-pos"
    assert base_model_id("/gone/runs/student") == "student"
    assert base_model_id("bert-base-uncased") == "bert-base-uncased"
    assert base_model_id("user/model") == "user/model"


def test_build_model_card_round_trips_through_model_card_load(tmp_path):
    card = build_model_card(
        "tiny sentiment",
        "How it was trained.",
        task="sentiment",
        base_model=str(tmp_path / "models" / "multilingual-e5-small"),
        scores={"validation": {"accuracy": 0.9, "eval_seconds": 3.0}, "test": {"accuracy": 0.8, "loyalty": 0.95}},
        tags=["distillation"],
    )
    card.save(tmp_path / "README.md")
    data = load_card_metadata(
        tmp_path,
        language="ro",
        license="cc-by-nc-sa-4.0",
        datasets=["laroseda"],
        base_model="intfloat/multilingual-e5-small",
        pipeline_tag="text-classification",
    )
    assert {"sentiment", "distillation"} <= set(data["tags"])
    assert result_metrics(tmp_path) == {
        ("validation", "accuracy"): 0.9,
        ("test", "accuracy"): 0.8,
        ("test", "loyalty"): 0.95,
    }
    text = (tmp_path / "README.md").read_text()
    assert "# tiny sentiment" in text and "Non-commercial use only" in text and str(tmp_path) not in text
