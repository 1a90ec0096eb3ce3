# `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Debian packages the kernel tests and tools need (installed only when missing, and only as root).
DEBS   := iproute2 nftables containernetworking-plugins dnsutils

.PHONY: demo test lint bench clean debs

$(BIN)/podnet: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/podnet
	$(BIN)/podnet demo

debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else echo "missing Debian packages (install as root):$$missing"; fi; \
	fi

test: $(BIN)/podnet debs
	$(BIN)/pytest

lint: $(BIN)/podnet
	$(BIN)/ruff check .

bench: $(BIN)/podnet
	$(BIN)/python bench/policy_matrix.py

clean:
	rm -rf $(VENV) build *.egg-info
