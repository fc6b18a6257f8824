"""Checks of a folder's model card as the Hub reads it (``huggingface_hub.ModelCard.load``)."""

from pathlib import Path

from huggingface_hub import ModelCard


def load_card_metadata(folder, **expected) -> dict:
    """The card's metadata, after checking the fields every optimum-ro card has and the ``expected`` values."""
    card = ModelCard.load(Path(folder) / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "transformers" and "optimum-ro" in data["tags"]
    assert data.get("license") and data.get("pipeline_tag")
    base = data.get("base_model")
    assert base is None or ("/" not in base or base.count("/") == 1 and not base.startswith("/")), base
    for key, value in expected.items():
        assert data.get(key) == value, (key, data.get(key))
    return data


def result_metrics(folder) -> dict:
    """``{(split, metric): value}`` from the card's ``model-index``."""
    card = ModelCard.load(Path(folder) / "README.md")
    return {(r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results or []}
