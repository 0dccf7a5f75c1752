"""Parser worker processes without multiprocessing's helpers: each worker is a plain child
interpreter (`python -m veille.parse_workers`) fed pickled calls on its stdin, answering on
its stdout.

multiprocessing's pool, under its "forkserver" start method (the one safe for a daemon with
threads), runs two more interpreters beside the workers: the fork server and the resource
tracker, some 26 MB of a first poll's memory for nothing veille needs. This executor keeps
what the parser pool relies on (parser_pool.py): `submit()` gives a Future; a worker that
dies (a segfault, the OOM killer, a kill after a parse overran its time) breaks the whole
executor, as ProcessPoolExecutor does, failing every call in flight with BrokenProcessPool,
so that the pool replaces it and retries them; `shutdown()` stops the workers.

A worker gets the parent's `sys.path` first (the functions it is sent are pickled by
reference), then `initializer(*initargs)` once, then one call at a time. Its stdout is kept
for answers: anything a parse prints goes to stderr.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from typing import IO, Any

from .gc_tuning import tune_gc

_HEAD = struct.Struct("!Q")
_STOP = object()


def _send(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
    stream.write(_HEAD.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    """The next object, or EOFError when the other side is gone."""
    head = stream.read(_HEAD.size)
    if len(head) < _HEAD.size:
        raise EOFError
    size = _HEAD.unpack(head)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


class _Worker:
    """One child process, a thread feeding it calls and one reading its answers."""

    def __init__(self, owner: ParseWorkers, initializer: Callable[..., object] | None,
                 initargs: tuple[Any, ...]) -> None:
        self._owner = owner
        self.process = subprocess.Popen(
            [sys.executable, "-m", "veille.parse_workers"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, close_fds=True)
        self.pid = self.process.pid
        self.pending: dict[int, Future[Any]] = {}
        self._calls: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._calls.put(list(sys.path))
        self._calls.put((0, initializer, initargs, {}) if initializer else None)
        self._writer = threading.Thread(target=self._write, daemon=True,
                                        name=f"veille-parse-feed-{self.pid}")
        self._reader = threading.Thread(target=self._read, daemon=True,
                                        name=f"veille-parse-read-{self.pid}")
        self._writer.start()
        self._reader.start()

    def call(self, call_id: int, future: Future[Any], fn: Callable[..., Any],
             args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.pending[call_id] = future
        self._calls.put((call_id, fn, args, kwargs))

    def _write(self) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            while (item := self._calls.get()) is not _STOP:
                _send(stdin, item)
        except (OSError, ValueError, pickle.PicklingError):
            pass  # the process is gone: the reader sees it
        with contextlib.suppress(OSError):
            stdin.close()  # end of input: the worker exits

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                call_id, ok, value = _receive(stdout)
                with self._owner._lock:
                    future = self.pending.pop(call_id, None)
                if future is None or not future.set_running_or_notify_cancel():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        except (EOFError, OSError, pickle.UnpicklingError):
            pass
        self.process.wait()
        self._owner._died(self)

    def stop(self) -> None:
        self._calls.put(_STOP)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()


class ParseWorkers(Executor):
    """`workers` child processes; a call goes to the one with the fewest in flight."""

    def __init__(self, workers: int, initializer: Callable[..., object] | None = None,
                 initargs: tuple[Any, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._broken: str | None = None
        self._shutdown = False
        self._next_id = 1
        self._workers = [_Worker(self, initializer, initargs) for _ in range(workers)]

    def pids(self) -> list[int]:
        """The live workers' process ids."""
        return [w.pid for w in self._workers if w.process.poll() is None]

    def kill(self) -> None:
        """Every worker, at once (a parse that overran its time bound)."""
        for w in self._workers:
            w.kill()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self._broken:
                raise BrokenProcessPool(self._broken)
            if self._shutdown:
                raise RuntimeError("cannot schedule new parses after shutdown")
            future: Future[Any] = Future()
            worker = min(self._workers, key=lambda w: len(w.pending))
            call_id, self._next_id = self._next_id, self._next_id + 1
            worker.call(call_id, future, fn, args, kwargs)
            return future

    def _died(self, worker: _Worker) -> None:
        """A worker's output ended: every call it or any other held fails, as the whole
        executor is broken (the pool replaces it), unless it was shut down."""
        with self._lock:
            if not self._shutdown and self._broken is None:
                self._broken = f"a parser process exited (code {worker.process.returncode})"
            reason = self._broken or "the parser processes were shut down"
            stranded = [f for w in self._workers for f in w.pending.values()]
            for w in self._workers:
                w.pending.clear()
        for future in stranded:
            if future.set_running_or_notify_cancel():
                future.set_exception(BrokenProcessPool(reason))

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                for w in self._workers:
                    for future in w.pending.values():
                        future.cancel()
        for w in self._workers:
            w.stop()
        if wait:
            for w in self._workers:
                w.process.wait()
                w._reader.join()


def _serve() -> None:
    """A worker's life: sys.path, the initializer, then calls until its input ends."""
    stdin = sys.stdin.buffer
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not end up here
    sys.path[:] = _receive(stdin)
    try:
        init = _receive(stdin)
        if init is not None:
            _, fn, args, kwargs = init
            fn(*args, **kwargs)
        tune_gc()  # after the initializer: the watchlists it installs are kept for good
        while True:
            call_id, fn, args, kwargs = _receive(stdin)
            try:
                answer = (call_id, True, fn(*args, **kwargs))
                _send(out, answer)
            except Exception as e:  # noqa: BLE001 - the caller's to handle, as with any executor
                with contextlib.suppress(Exception):
                    _send(out, (call_id, False, e))
                    continue
                _send(out, (call_id, False, RuntimeError(f"{type(e).__name__}: {e}")))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        return


if __name__ == "__main__":
    _serve()
