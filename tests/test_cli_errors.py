"""Bad command-line input ends in one line on stderr (naming the path or value and the fix) and exit status 2,
found before any model or data loads; ``--debug`` shows the traceback; logging prints each record once."""

import json
import subprocess
import sys

import pytest

from optimum_ro.cli import main


def run_cli(args, capsys):
    rc = main(args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    return rc, lines


@pytest.fixture()
def tiny_saved_bert(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    BertForSequenceClassification(config).save_pretrained(tmp_path / "model")
    return tmp_path / "model"


def test_missing_model_folder_is_one_line_naming_it(tmp_path, capsys):
    missing = tmp_path / "no" / "such" / "folder"
    rc, lines = run_cli(
        ["finetune", "--model", str(missing), "--task", "sentiment", "--output", str(tmp_path)], capsys
    )
    assert rc == 2 and len(lines) == 1
    assert str(missing) in lines[0] and "no such folder" in lines[0] and "Hub id" in lines[0]


def test_a_folder_without_config_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rc, lines = run_cli(
        ["prune", "--model", str(tmp_path / "empty"), "--task", "pos", "--output", str(tmp_path)], capsys
    )
    assert rc == 2 and len(lines) == 1 and "has no config.json" in lines[0]


def test_truncated_and_corrupt_safetensors_name_the_file(tiny_saved_bert, tmp_path, capsys):
    weights = tiny_saved_bert / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:-100])  # a copy cut short
    args = ["finetune", "--model", str(tiny_saved_bert), "--task", "sentiment", "--output", str(tmp_path / "o")]
    rc, lines = run_cli(args, capsys)
    assert rc == 2 and len(lines) == 1 and f"{weights} is truncated" in lines[0]
    weights.write_bytes(data[:8] + b"\xff" * 40 + data[48:])  # the header overwritten
    rc, lines = run_cli(args, capsys)
    assert rc == 2 and len(lines) == 1 and f"{weights} is corrupt" in lines[0]
    weights.write_bytes(data)
    from optimum_ro.commands import check_model_folder

    assert check_model_folder(str(tiny_saved_bert)) == str(tiny_saved_bert)  # the intact file passes


def test_a_folder_with_custom_code_asks_for_trust_remote_code(tiny_saved_bert, tmp_path, capsys):
    config = json.loads((tiny_saved_bert / "config.json").read_text())
    config.update(model_type="my_custom_bert", auto_map={"AutoConfig": "configuration_my.MyConfig"})
    (tiny_saved_bert / "config.json").write_text(json.dumps(config))
    rc, lines = run_cli(
        ["distill", "--teacher", str(tiny_saved_bert), "--task", "pos", "--output", str(tmp_path / "o")], capsys
    )
    assert rc == 2 and len(lines) == 1 and "--trust_remote_code" in lines[0] and str(tiny_saved_bert) in lines[0]


def test_unknown_task_is_refused_before_any_teacher_loads(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["distill", "--teacher", str(tmp_path / "missing"), "--task", "posx", "--output", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "invalid choice: 'posx'" in capsys.readouterr().err.splitlines()[-1]


def test_missing_data_is_one_line(tiny_saved_bert, tmp_path, capsys):
    args = ["finetune", "--model", str(tiny_saved_bert), "--task", "ner", "--data", str(tmp_path / "nodata")]
    rc, lines = run_cli(args + ["--output", str(tmp_path / "o")], capsys)
    assert rc == 2 and len(lines) == 1 and f"--data {tmp_path / 'nodata'}: no such file or folder" in lines[0]


def test_debug_shows_the_traceback(tmp_path):
    from optimum_ro.commands import UsageError

    with pytest.raises(UsageError, match="no such folder"):
        main(["--debug", "finetune", "--model", str(tmp_path / "x" / "y"), "--task", "pos", "--output", str(tmp_path)])


def test_library_messages_print_once_and_log_level_quiets_ours(tmp_path):
    script = """
import logging, sys
from optimum_ro.commands.logs import configure_logging
import huggingface_hub, transformers
configure_logging(sys.argv[1])
logging.getLogger("huggingface_hub.file_download").warning("hub-warning")
logging.getLogger("huggingface_hub.file_download").info("hub-info")
logging.getLogger("transformers.trainer").info("trainer-info")
logging.getLogger("optimum_ro.finetune").info("ours-info")
"""
    for level, ours in (("info", 1), ("error", 0)):
        run = subprocess.run([sys.executable, "-c", script, level], capture_output=True, text=True, cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        assert run.stderr.count("hub-warning") == (1 if level == "info" else 0)
        assert "hub-info" not in run.stderr and "trainer-info" not in run.stderr
        assert run.stderr.count("ours-info") == ours


def test_the_cli_leaves_the_root_logger_alone(tiny_saved_bert, tmp_path, capsys):
    import logging

    before = list(logging.getLogger().handlers)
    main(
        ["--log_level", "warning", "finetune", "--model", str(tmp_path / "a" / "b"), "--task", "pos", "--output", "o"]
    )
    assert logging.getLogger().handlers == before


def test_an_uncached_hub_id_offline_is_one_line(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rc, lines = run_cli(["finetune", "--model", "someone/not-cached", "--task", "pos", "--output", "o"], capsys)
    assert rc == 2 and len(lines) == 1 and "someone/not-cached: no such folder, and not in the Hub cache" in lines[0]
