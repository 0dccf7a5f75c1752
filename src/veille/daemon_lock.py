"""One daemon per database: an exclusive flock on `<database>.lock`, holding the daemon's pid."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import StorageError


class DaemonLock:
    """One daemon per database: an exclusive flock on `<database>.lock`, holding our pid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise StorageError(self.path, f"cannot create the lock file: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StorageError(self.path, f"another veille daemon (pid {pid}) already uses "
                                          "this database") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def daemon_running(lock_file: Path) -> bool:
    """True if some process holds the daemon lock (what `veille status` asks)."""
    try:
        fd = os.open(lock_file, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):  # no database there: no daemon either
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
