# glassnet: `make demo` runs the seed tutorial's network end to end, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Debian packages the tests need: LibreOffice recalculates workbooks, Chromium opens the HTML trace,
# R runs r/article.R. Installed by `make test` when run as root; otherwise they must be present.
DEB_PACKAGES := libreoffice-calc-nogui chromium r-base-core

.PHONY: demo test install system-deps lint bench fuzz docs notebooks clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/glassnet demo --out demo-out

system-deps:
	@missing=""; \
	command -v soffice >/dev/null 2>&1 || missing="$$missing libreoffice-calc-nogui"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v Rscript >/dev/null 2>&1 || missing="$$missing r-base-core"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "warning: missing$$missing (run make test as root to install them)"; \
	  fi; \
	fi

# The docs build first (strict: a broken link or reference, or a docstring griffe cannot parse, fails it),
# so that pytest's summary stays the last line.
test: $(STAMP) system-deps docs
	$(BIN)/python -m pytest

# The documentation site, offline, into site/: the guide (README.md's sections, docs/*.md) and the API
# reference from the docstrings (mkdocs.yml, docs/hooks.py). Open site/index.html.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The fuzzers with many more examples (hypothesis profile "fuzz"), and the slow tests (training from a
# 1 GB memory-mapped file); prints how many inputs the fuzzers tried and the memory measured.
fuzz: $(STAMP)
	GLASSNET_SLOW=1 HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest tests/robustness tests/data/test_csv.py

lint: $(STAMP)
	$(BIN)/ruff check src tests

bench: $(STAMP)
	$(BIN)/glassnet bench --json benchmarks/results/bench.json --md benchmarks/results/bench.md --plot benchmarks/results/bench.png

# Executes every examples/*.ipynb with its full epoch counts (nbclient, python3 kernel, a temporary working
# folder each) and prints each one's time; the tests run them with GLASSNET_NOTEBOOK_QUICK=1 instead.
notebooks: $(STAMP)
	$(BIN)/python examples/run_notebooks.py

clean:
	rm -rf $(VENV) demo-out site .pytest_cache
