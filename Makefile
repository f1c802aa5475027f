# The two commands of the README: `make serve` (set up and run the service centre) and `make test` (everything CI runs).
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
HOST  ?= 127.0.0.1
PORT  ?= 5000

CHROMIUM := /usr/bin/chromium

.PHONY: serve test lint bench catalogues

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# The browser tests drive Debian's chromium through Playwright; Playwright's own browser downloads are never used.
$(CHROMIUM):
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-noto-cjk

# English labels: the .po catalogues are compiled to .mo at install/test time.
catalogues: $(STAMP)
	$(BIN)/python -c "from web.app import compile_catalogues; compile_catalogues()"

serve: $(STAMP) catalogues
	$(BIN)/onewindow load-demo
	$(BIN)/onewindow serve --host $(HOST) --port $(PORT)

test: $(STAMP) $(CHROMIUM) catalogues
	bash .ci/services
	$(BIN)/ruff check .
	$(BIN)/pytest -q

bench: $(STAMP)
	bash .ci/services
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/inbox.py --databases sqlite,postgres
	$(BIN)/python bench/sweep.py
