# Two entry points (see README): `make demo` and `make test` (ruff, then pytest). Both create .venv and
# install the package (with the C++ kernels) through constraints.txt, which pins torch.
# --no-compile: no .pyc for all of torch & co. up front (~360 MB of a ~1.9 GB venv); Python writes
# them for the modules it imports.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml setup.py constraints.txt csrc/* 2>/dev/null | cksum | cut -d' ' -f1)

.PHONY: setup demo quality style test bench deepsparse-venv bench-model clean

$(STAMP):
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "optimum-ro needs Python 3.11 (set PYTHON=...)"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --no-compile -c constraints.txt -e ".[dev,bench]"
	rm -f $(VENV)/.installed-*; touch $@

setup: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/optimum-ro demo

# ruff (configured in pyproject.toml): `quality` checks, `style` rewrites.
quality: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

style: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: quality
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/optimum-ro bench

# DeepSparse, a peer of benchmarks/bench_model.py and bench_spmm.py, needs Python < 3.12, numpy < 2 and onnx < 1.15:
# its own venv (with pyenv: DS_PYTHON=$$(pyenv root)/versions/3.10.13/bin/python3.10).
DS_PYTHON ?= python3.10
DS_VENV   ?= .ds-venv

$(DS_VENV)/.installed:
	test -x $(DS_VENV)/bin/python || $(DS_PYTHON) -m venv $(DS_VENV)
	$(DS_VENV)/bin/python -m pip install -q --upgrade pip
	$(DS_VENV)/bin/python -m pip install -q deepsparse==1.8.0 "numpy<2" "onnx<1.15"
	touch $@

deepsparse-venv: $(DS_VENV)/.installed

# The whole-model benchmark with every peer (BENCHMARKS-model.md); BENCH_MODEL_ARGS adds e.g. --student FOLDER.
bench-model: $(STAMP) $(DS_VENV)/.installed
	$(BIN)/python benchmarks/bench_model.py --ort --compile --deepsparse-python $(DS_VENV)/bin/python $(BENCH_MODEL_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info optimum_ro/sparse/_C*.so
