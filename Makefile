# Two commands for a fresh machine: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
# e.g. make bench PEERS='--hosts 20 --latency 0 --memory-feeds 0' for one scenario of bench_peers
PEERS  ?=
STAMP   = $(VENV)/.installed

.PHONY: run test bench bench-long lint clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "veille needs Python >= 3.11 (set PYTHON=python3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/veille --config veille.toml run

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/bench_match.py
	$(PY) bench/bench_fetch.py
	$(PY) bench/bench_ingest.py
	$(PY) bench/eval_stories.py --no-sweep
	$(PY) bench/eval_spikes.py
	$(PY) bench/bench_websub.py
	$(PY) bench/bench_peers.py $(PEERS)
	$(PY) bench/bench_report.py
	$(PY) bench/compare_parsers.py --farm 1000

# the slow ones, each minutes to half an hour: a million entries searched, the log lines of
# 1,000 feeds over 8 minutes, 120 simulated days of retention, the memory of 10,000 feeds
# (`veille fetch`, then the daemon over 24 rounds)
bench-long: $(STAMP)
	$(PY) bench/bench_search.py
	$(PY) bench/bench_logs.py
	$(PY) bench/bench_retention.py
	$(PY) bench/bench_memory.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src/veille

clean:
	rm -rf $(VENV) var .pytest_cache
