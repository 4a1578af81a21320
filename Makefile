# Two commands do all the set-up (see README.md):
#   make demo   create .venv, install, train ACGAN on MNIST, sample every class, evaluate (report)
#   make test   create .venv, install (with the [ui] extra), run the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch build to install; override on machines that want another, e.g.
#   make test TORCH="torch torchvision"
TORCH ?= torch==2.14.1 torchvision==0.29.1
# The demo's training budget: about 4-6 minutes on a 2-core CPU (bf16 with AMX, fp32 elsewhere).
DEMO_STEPS ?= 3000
# Offline development machines have a copy of MNIST here; elsewhere torchvision downloads it.
DEMO_DATA ?= $(firstword $(wildcard ../shared/datasets/mnist-5k))
DEMO_RUNS ?= runs
# The demo's model: ACGAN, as tuned by ganzoo (docs/models/acgan.md); its sibling ReACGAN
# does a little better at this budget and on Fashion-MNIST (docs/leaderboard.md):
# make demo DEMO_MODEL=reacgan
DEMO_MODEL ?= acgan
DEMO_NOTE ?= $(if $(filter acgan,$(DEMO_MODEL)),ACGAN's sibling ReACGAN does a little better at this budget and on Fashion-MNIST (docs/leaderboard.md): make demo DEMO_MODEL=reacgan. The seed article's exact ACGAN: --set preset=reference.,See docs/leaderboard.md for every model at this budget.)

.PHONY: setup demo test clean

setup: $(BIN)/.installed

# Every model plugin in plugins/ (acgan, cgan, dcgan, reacgan, sngan, tacgan, wgan_gp), each its own distribution.
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))

$(BIN)/.installed: pyproject.toml $(addsuffix pyproject.toml,$(PLUGINS))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[test]" $(addprefix -e ,$(PLUGINS))
	touch $@

demo: setup
	$(BIN)/ganzoo train $(DEMO_MODEL) --recipe mnist --runs-dir $(DEMO_RUNS) --set max_steps=$(DEMO_STEPS) \
		$(if $(DEMO_DATA),--data-dir $(DEMO_DATA))
	$(BIN)/ganzoo sample $(DEMO_MODEL) --class all --n 10 --runs-dir $(DEMO_RUNS)
	$(BIN)/ganzoo evaluate $(DEMO_MODEL) --runs-dir $(DEMO_RUNS)   # on the data the run recorded
	@echo "$(DEMO_NOTE)"

# The tests also cover `ganzoo ui`, so they add the [ui] extra (Gradio; it pins pillow<13).
$(BIN)/.installed-ui: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test,ui]"
	touch $@

# The tests run in TEST_WORKERS processes (pytest-xdist; auto: one per CPU core, each with
# its share of the threads), a test file per process, the longest files first
# (tests/conftest.py; --no-loadscope-reorder needs pytest-xdist 3.8); TEST_WORKERS=0 runs them in one.
TEST_WORKERS ?= auto
test: $(BIN)/.installed-ui
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

clean:
	rm -rf $(VENV) build *.egg-info plugins/*/*.egg-info .pytest_cache
