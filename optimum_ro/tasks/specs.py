"""The five Romanian tasks of Avram et al. (2021) as plain task specifications.

from optimum_ro.tasks import TASKS
spec = TASKS["ner"]
spec.kind, spec.labels[:3]   # ('token', ('O', 'B-DATETIME', 'I-DATETIME'))
"""

from dataclasses import dataclass

TOKEN, SEQUENCE, REGRESSION = "token", "sequence", "regression"

UPOS_LABELS = ("ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X").split()
NER_TYPES = (
    "DATETIME EVENT FACILITY GPE LANGUAGE LOC MONEY NAT_REL_POL NUMERIC_VALUE ORDINAL "
    "ORGANIZATION PERIOD PERSON PRODUCT QUANTITY WORK_OF_ART"
).split()
NER_LABELS = ["O"] + [f"{p}-{t}" for t in NER_TYPES for p in ("B", "I")]


@dataclass(frozen=True)
class TaskSpec:
    """What a task reads, predicts and how it is scored.

    kind: ``token`` (one label per word), ``sequence`` (one label per text or pair)
    or ``regression`` (one float per text pair, in ``score_range``).
    labels: label names; a ``sequence`` task's raw label may be the name or its index.
    """

    name: str
    kind: str
    text_fields: tuple
    label_field: str
    labels: tuple | None
    metric: str
    description: str
    folder: str
    score_range: tuple = (0.0, 5.0)
    default_max_length: int = 128

    @property
    def num_labels(self) -> int:
        return 1 if self.kind == REGRESSION else len(self.labels)

    @property
    def id2label(self) -> dict:
        return {} if self.labels is None else dict(enumerate(self.labels))

    @property
    def label2id(self) -> dict:
        return {} if self.labels is None else {label: i for i, label in enumerate(self.labels)}


TASKS = {
    "pos": TaskSpec(
        "pos",
        TOKEN,
        ("tokens",),
        "upos",
        tuple(UPOS_LABELS),
        "accuracy",
        "UPOS tagging (UD Romanian-RRT)",
        "pos",
        default_max_length=192,
    ),
    "ner": TaskSpec(
        "ner",
        TOKEN,
        ("tokens",),
        "ner_tags",
        tuple(NER_LABELS),
        "f1",
        "named-entity recognition (RONEC v1, strict IOB2 entity F1)",
        "ner",
        default_max_length=192,
    ),
    "sentiment": TaskSpec(
        "sentiment",
        SEQUENCE,
        ("text",),
        "label",
        ("negative", "positive"),
        "accuracy",
        "binary sentiment of product reviews (LaRoSeDa)",
        "sentiment",
    ),
    "sts": TaskSpec(
        "sts",
        REGRESSION,
        ("sentence1", "sentence2"),
        "score",
        None,
        "pearson",
        "semantic textual similarity, score 0-5 (RO-STS)",
        "sts",
    ),
    "dialect": TaskSpec(
        "dialect",
        SEQUENCE,
        ("text",),
        "label",
        ("MD", "RO"),
        "macro_f1",
        "Moldavian vs Romanian dialect identification (MOROCO MRC)",
        "dialect",
    ),
}


def get_task(task) -> TaskSpec:
    """Return the :class:`TaskSpec` for a name (or pass a spec through)."""
    if isinstance(task, TaskSpec):
        return task
    try:
        return TASKS[task]
    except KeyError:
        raise ValueError(f"Unknown task {task!r}; choose one of {sorted(TASKS)}.") from None
