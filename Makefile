# make book: build the book (quick profile) into _build/html.   make test: unit tests, executed chapters, nbval, HTML.
# Both create .venv on first use. ONEN_DATA (the data root; the library defaults to ~/.onen/data) is passed through.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# chapters executed, and notebooks checked by nbval, at once by `make test` (pytest-xdist: one notebook a worker)
JOBS ?= 2
STAMP := $(VENV)/.onen-installed

ifdef ONEN_DATA
export ONEN_DATA
endif

.PHONY: book test install execute html clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -e '.[test,book,audit,cluster]'
	touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(PY) -m onen.commands.build all

test: $(STAMP)
	$(PY) -m pytest tests
	$(PY) -m onen.commands.build execute --jobs $(JOBS)
	OMP_NUM_THREADS=1 $(PY) -m pytest -n $(JOBS) --dist loadfile --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		$$($(PY) -m onen.commands.build list)
	$(PY) -m onen.commands.build html
	$(PY) -m onen.commands.build times

execute: $(STAMP)
	$(PY) -m onen.commands.build execute

html: $(STAMP)
	$(PY) -m onen.commands.build html

clean:
	rm -rf _build book/*.ipynb
