"""Model cards for every folder optimum-ro writes, built with ``huggingface_hub.ModelCard`` so the Hub reads their
metadata: language, license (derived from the training data's licenses), datasets, base model (a Hub id where
known, else the model's name, never a local path), pipeline tag, tags and ``model-index`` results.

    card = build_model_card(
        title="multilingual-e5-small fine-tuned for Romanian sentiment",
        text="Fine-tuned with `optimum-ro finetune` ...",
        task="sentiment",
        base_model="models/multilingual-e5-small",          # -> intfloat/multilingual-e5-small
        scores={"validation": {"accuracy": 0.91}, "test": {"accuracy": 0.90}},
    )
    card.save("runs/e5-sentiment/README.md")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataSource:
    """A training data set as a card names it: ``hub_id`` (``None``: not on the Hub) goes to the ``datasets``
    metadata, ``license`` (a Hub license id) to the derivation of the model's license."""

    name: str
    hub_id: str | None
    license: str
    url: str


UD_RRT = DataSource(
    "UD Romanian-RRT",
    "universal_dependencies",
    "cc-by-sa-4.0",
    "https://github.com/UniversalDependencies/UD_Romanian-RRT",
)
RONEC = DataSource("RONEC v1", "ronec", "mit", "https://github.com/dumitrescustefan/ronec")
LAROSEDA = DataSource("LaRoSeDa", "laroseda", "cc-by-nc-sa-4.0", "https://github.com/ancatache/LaRoSeDa")
RO_STS = DataSource("RO-STS", "ro_sts", "cc-by-sa-4.0", "https://github.com/dumitrescustefan/RO-STS")
MOROCO = DataSource(
    "MOROCO (VarDial 2019 MRC)", "moroco", "cc-by-nc-sa-4.0", "https://github.com/butnaruandrei/MOROCO"
)
ELTEC_RO = DataSource("ELTeC-rom novels", None, "cc-by-4.0", "https://github.com/COST-ELTeC/ELTeC-rom")
MASSIVE_RO = DataSource("MASSIVE ro-RO", "AmazonScience/massive", "cc-by-4.0", "https://github.com/alexa/massive")
RO_HOME = DataSource("Romanian smart-home NLU (eaaskt/nlu)", None, "mit", "https://github.com/eaaskt/nlu")

# what each task trains on (the licenses as stated by each source; see ../shared/data/*/README.md)
TASK_DATA: dict[str, tuple[DataSource, ...]] = {
    "pos": (UD_RRT,),
    "ner": (RONEC,),
    "sentiment": (LAROSEDA,),
    "sts": (RO_STS,),
    "dialect": (MOROCO,),
    "mlm": (ELTEC_RO, UD_RRT, RONEC, RO_STS),  # the raw-text corpus: paragraphs and train sentences of these
}
NLU_DATA = {"massive_ro": (MASSIVE_RO,), "ro_home": (RO_HOME,)}
PIPELINE_TAGS = {
    "pos": "token-classification",
    "ner": "token-classification",
    "sentiment": "text-classification",
    "sts": "text-classification",  # a one-output regression head
    "dialect": "text-classification",
    "mlm": "fill-mask",
    "intent+slot": "token-classification",
}
# names fetch-models builds (and folders named like them) -> the Hub model they come from
KNOWN_BASE_MODELS = {
    "multilingual-e5-small": "intfloat/multilingual-e5-small",
    "all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "paraphrase-MiniLM-L3-v2": "sentence-transformers/paraphrase-MiniLM-L3-v2",
}
KNOWN_BASE_LICENSES = {
    "intfloat/multilingual-e5-small": "mit",
    "sentence-transformers/all-MiniLM-L6-v2": "apache-2.0",
    "sentence-transformers/paraphrase-MiniLM-L3-v2": "apache-2.0",
}
# least to most restrictive: a model takes the most restrictive license among its data (and base model)
LICENSE_ORDER = ("mit", "apache-2.0", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0")
LICENSE_NAMES = {
    "mit": "MIT",
    "apache-2.0": "Apache 2.0",
    "cc-by-4.0": "CC BY 4.0",
    "cc-by-sa-4.0": "CC BY-SA 4.0",
    "cc-by-nc-4.0": "CC BY-NC 4.0",
    "cc-by-nc-sa-4.0": "CC BY-NC-SA 4.0",
}


def base_model_id(name_or_path: str | None) -> str | None:
    """The Hub id of a model given as a name, Hub id or local folder: a name ``fetch-models`` knows (or a folder
    named like one) maps to its Hub id; any other folder gives its name (never the machine's path); a Hub id
    stays as it is."""
    if not name_or_path:
        return None
    text = str(name_or_path).rstrip("/")
    path = Path(text).expanduser()
    if text in KNOWN_BASE_MODELS or path.name in KNOWN_BASE_MODELS:
        return KNOWN_BASE_MODELS.get(text) or KNOWN_BASE_MODELS[path.name]
    if path.is_dir() or text.startswith((".", "/", "~")) or text.count("/") > 1:
        return path.name  # a folder (here or not): its name only
    return text


def derived_license(sources: Iterable[DataSource], base_model: str | None = None) -> str:
    """The most restrictive license among the data sources (and the base model, when its license is known)."""
    licenses = [s.license for s in sources]
    if base_model in KNOWN_BASE_LICENSES:
        licenses.append(KNOWN_BASE_LICENSES[base_model])
    known = [lic for lic in licenses if lic in LICENSE_ORDER]
    if not known:
        return "other"
    return max(known, key=LICENSE_ORDER.index)


def license_text(sources: Sequence[DataSource], license: str) -> str:
    """The human sentence on licensing for a card's body."""
    if not sources:
        return "The base model's license applies to the weights."
    listed = "; ".join(f"[{s.name}]({s.url}): {LICENSE_NAMES.get(s.license, s.license)}" for s in sources)
    restricted = " Non-commercial use only." if "nc" in license.split("-") else ""
    return (
        f"Training data: {listed}. The weights are released under {LICENSE_NAMES.get(license, license)}, the most "
        f"restrictive of these (and of the base model's license).{restricted}"
    )


# run statistics that Trainer reports beside the scores: not results
NOT_SCORES = ("seconds", "per_second", "runtime", "loss", "epoch", "steps", "examples")


def _eval_results(scores, task_type, sources, model_name):
    from huggingface_hub import EvalResult

    dataset = next((s for s in sources if s.hub_id), None)
    results = []
    for split, metrics in (scores or {}).items():
        for metric, value in (metrics or {}).items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or metric.endswith(NOT_SCORES):
                continue
            results.append(
                EvalResult(
                    task_type=task_type,
                    dataset_type=dataset.hub_id if dataset else "custom",
                    dataset_name=dataset.name if dataset else "custom",
                    dataset_split=split,
                    metric_type=metric,
                    metric_name=metric.replace("_", " "),
                    metric_value=float(value),
                )
            )
    return results or None


def build_model_card(
    title: str,
    text: str = "",
    *,
    task: str | None = None,
    base_model: str | None = None,
    scores: Mapping[str, Mapping[str, float]] | None = None,
    pipeline_tag: str | None = None,
    tags: Sequence[str] = (),
    data: Sequence[DataSource] | None = None,
    license: str | None = None,
    model_name: str | None = None,
    language: str | list[str] = "ro",
):
    """A ``huggingface_hub.ModelCard`` for a folder optimum-ro wrote.

    Args:
        title: the card's heading. text: its markdown body (how it was made, tables, usage).
        task: a task name (``pos``, ``ner``, ``sentiment``, ``sts``, ``dialect``, ``mlm``, ``intent+slot``): sets
            the default ``data``, ``pipeline_tag`` and a tag.
        base_model: what it was made from, as given on the command line (name, Hub id or folder): stored as the
            Hub id where known, else the model's name (:func:`base_model_id`).
        scores: ``{split: {metric: value}}``, written as ``model-index`` results (non-numbers skipped).
        data: the training data; default ``TASK_DATA[task]``. license: default :func:`derived_license`.
        model_name: the name in ``model-index`` (default: ``title``).
    Returns the card; ``card.save(folder / "README.md")`` writes it.
    """
    from huggingface_hub import ModelCard, ModelCardData

    sources = tuple(data if data is not None else TASK_DATA.get(task or "", ()))
    base = base_model_id(base_model)
    license = license or derived_license(sources, base)
    pipeline_tag = pipeline_tag or PIPELINE_TAGS.get(task or "")
    card_tags = ["optimum-ro", *([task] if task else []), *tags]
    name = model_name or title
    metadata = ModelCardData(
        language=language,
        license=license,
        library_name="transformers",
        pipeline_tag=pipeline_tag,
        tags=list(dict.fromkeys(card_tags)),
        datasets=[s.hub_id for s in sources if s.hub_id] or None,
        base_model=base,
        model_name=name,
        eval_results=_eval_results(scores, pipeline_tag or "other", sources, name),
    )
    body = "\n\n".join(part for part in (f"# {title}", text.strip(), license_text(sources, license)) if part)
    return ModelCard(f"---\n{metadata.to_yaml()}\n---\n\n{body}\n")


def card_data_of(folder: str | Path) -> dict:
    """The metadata of the card in ``folder`` (``{}`` when it has none), e.g. to carry a model's license and
    results over to a folder derived from it."""
    card = Path(folder) / "README.md"
    if not card.is_file():
        return {}
    from huggingface_hub import ModelCard

    try:
        return ModelCard.load(card).data.to_dict()
    except Exception:  # a hand-written card without valid metadata
        return {}
