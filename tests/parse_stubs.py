"""Parse functions for the parser pool tests, in a module of their own: a worker process
imports the module of the function it is sent, and this one imports only what a worker
already has (the test modules pull in the CLI, Hypothesis and more: seconds on a loaded
machine, counted against the parse's time bound)."""

from __future__ import annotations

import time

from veille.parse import parse_feed


def hanging_parse(url: str, body: bytes, headers: dict[str, str]):
    """Stands in for a parser stuck in a C loop on a hostile document."""
    if body == b"hang":
        time.sleep(3600)
    if body == b"nap":  # holds its worker, so that two naps at once land on two workers
        time.sleep(1)
    return parse_feed(url, body, headers)
