# `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Debian packages the kernel tests and tools need (installed only when missing, and only as root).
DEBS   := iproute2 nftables iptables ipset containernetworking-plugins dnsutils
# ... and those the benchmarks compare against (dnsperf and Knot for the DNS server).
BENCH_DEBS := $(DEBS) dnsperf knot

.PHONY: demo test lint bench clean debs bench-debs
PACKAGES ?= $(DEBS)

$(BIN)/podnet: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/podnet debs
	$(BIN)/podnet demo
	@if [ "$$(id -u)" = 0 ]; then \
		$(BIN)/podnet up examples/shop --name shop --replace && \
		{ $(BIN)/podnet verify --name shop; status=$$?; $(BIN)/podnet down --name shop; exit $$status; }; \
	else echo "(as root, make demo also builds examples/shop on this machine, verifies it and takes it down)"; fi

debs:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else echo "missing Debian packages (install as root):$$missing"; fi; \
	fi

test: $(BIN)/podnet debs
	$(BIN)/pytest

lint: $(BIN)/podnet
	$(BIN)/ruff check .

bench-debs:
	@$(MAKE) --no-print-directory debs PACKAGES="$(BENCH_DEBS)"

# Each benchmark prints its table; docs/performance.md holds the figures and the commands.
bench: $(BIN)/podnet bench-debs
	$(BIN)/python bench/policy_matrix.py
	$(BIN)/python bench/proxy_rules.py
	$(BIN)/python bench/dns_qps.py
	$(BIN)/python bench/cni_latency.py
	$(BIN)/python bench/netlink_ops.py
	$(BIN)/python bench/linux_up.py

clean:
	rm -rf $(VENV) build *.egg-info
