"""veille's own processes run the garbage collector with a higher young threshold and their
start-up state frozen (gc_tuning.py); a program importing veille keeps Python's defaults."""

from __future__ import annotations

import gc
import subprocess
import sys

from veille.gc_tuning import YOUNG
from veille.parse_workers import ParseWorkers


def test_the_veille_command_tunes_its_collector() -> None:
    code = ("import gc\nfrom veille.cli import main\ntry:\n    main(['--version'])\n"
            "except SystemExit:\n    pass\n"
            "print(gc.get_threshold()[0], gc.get_freeze_count() > 0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out[-2:] == [str(YOUNG), "True"]


def test_importing_veille_leaves_the_collector_alone() -> None:
    code = "import gc\nimport veille.cli\nprint(gc.get_threshold()[0], gc.get_freeze_count())\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert out[0] != str(YOUNG)
    assert out[1] == "0"


def test_parser_processes_tune_their_collector() -> None:
    workers = ParseWorkers(1)
    try:
        assert workers.submit(gc.get_threshold).result(timeout=60)[0] == YOUNG
        assert workers.submit(gc.get_freeze_count).result(timeout=60) > 0
    finally:
        workers.shutdown()
