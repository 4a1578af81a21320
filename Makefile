# Two commands do all the set-up (see README.md):
#   make demo   create .venv, install, train ACGAN on MNIST, sample every class, evaluate (report)
#   make test   create .venv, install, run the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch build to install; override on machines that want another, e.g.
#   make test TORCH="torch torchvision"
TORCH ?= torch==2.14.1 torchvision==0.29.1
# The demo's training budget: about 5 minutes on a 2-core CPU with bf16 (AMX).
DEMO_STEPS ?= 3000
# Offline development machines have a copy of MNIST here; elsewhere torchvision downloads it.
DEMO_DATA ?= $(firstword $(wildcard ../shared/datasets/mnist-5k))
DEMO_RUNS ?= runs

.PHONY: setup demo test clean

setup: $(BIN)/.installed

# Every model plugin in plugins/ (acgan, cgan, dcgan, wgan_gp), each its own distribution.
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))

$(BIN)/.installed: pyproject.toml $(addsuffix pyproject.toml,$(PLUGINS))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[test]" $(addprefix -e ,$(PLUGINS))
	touch $@

demo: setup
	$(BIN)/ganzoo train acgan --recipe mnist --runs-dir $(DEMO_RUNS) --set max_steps=$(DEMO_STEPS) \
		$(if $(DEMO_DATA),--data-dir $(DEMO_DATA))
	$(BIN)/ganzoo sample acgan --class all --n 10 --runs-dir $(DEMO_RUNS)
	$(BIN)/ganzoo evaluate acgan --runs-dir $(DEMO_RUNS)   # on the data the run recorded

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) build *.egg-info plugins/*/*.egg-info .pytest_cache
