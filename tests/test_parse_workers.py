"""The parser workers (parse_workers.py): plain child processes, nothing else started beside
them, whose answers survive what a parse may print or raise."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from veille.parse_workers import ParseWorkers

TIMEOUT = 60


def shout(text: str) -> str:
    print("a parser that prints", text)  # to stdout: must not reach the answers
    sys.stdout.flush()
    return text.upper()


def fail(text: str) -> str:
    raise ValueError(f"bad {text}")


def unpicklable(text: str) -> object:
    return threading.Lock()


def remember(path: str) -> None:
    Path(path).write_text(str(os.getpid()))


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_the_workers_are_the_only_processes_started(tmp_path: Path):
    """multiprocessing's fork server and resource tracker cost ~26 MB; none here."""
    marker = tmp_path / "init"
    workers = ParseWorkers(2, remember, (str(marker),))
    try:
        assert workers.submit(shout, "x").result(TIMEOUT) == "X"
        pids = sorted(workers.pids())
        assert len(pids) == 2
        mine = set(children(os.getpid()))
        assert set(pids) <= mine
        for pid in mine - set(pids):  # whatever else this test process runs: not a helper
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert b"multiprocessing" not in cmdline and b"parse_workers" not in cmdline
        assert int(marker.read_text()) in pids  # the initializer ran in a worker
    finally:
        workers.shutdown()
    assert workers.pids() == []


def test_what_a_parse_prints_or_raises_does_not_break_the_workers():
    workers = ParseWorkers(1)
    try:
        assert workers.submit(shout, "un").result(TIMEOUT) == "UN"
        with pytest.raises(ValueError, match="bad deux"):
            workers.submit(fail, "deux").result(TIMEOUT)
        with pytest.raises(TypeError, match="pickle"):  # as the pickler raised it
            workers.submit(unpicklable, "trois").result(TIMEOUT)
        assert workers.submit(shout, "quatre").result(TIMEOUT) == "QUATRE"
    finally:
        workers.shutdown()


def test_many_calls_in_flight_each_get_their_own_answer():
    workers = ParseWorkers(2)
    try:
        futures = [workers.submit(shout, f"n{i}" * 5000) for i in range(64)]
        assert [f.result(TIMEOUT) for f in futures] == [f"N{i}" * 5000 for i in range(64)]
    finally:
        workers.shutdown()
