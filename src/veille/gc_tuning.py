"""The cyclic garbage collector's settings for veille's own processes (the `veille` command,
the daemon, the parser processes); never for a program that imports veille as a library.

CPython runs a young collection every 700 net allocations of container objects. An ingest
allocates millions (parsed entries, rows, match results, story keys), nearly all of them
freed by reference counting or kept for good, so those collections find almost nothing: in a
first poll of 1,000 feeds, the main thread spent 0.42-0.60 s in the collector with the
default and 0.06-0.10 s with YOUNG (measured with gc.callbacks, three runs each), out of 5-7 s.
Cycles still go at the next young collection, a few MB of allocations later.

`gc.freeze()` moves what exists at that point to the permanent generation, so that full
collections, which run for as long as the daemon does, stop walking it each time: in the
`veille` process the imported modules and classes (the configuration is read later), in a
parser worker also the watchlists its initializer installed. Frozen objects are still freed
by reference counting; only a cycle among them would stay.
"""

from __future__ import annotations

import gc

#: Net container allocations between young collections (CPython's default is 700).
YOUNG = 20_000


def tune_gc() -> None:
    """Once start-up is done, in a process veille owns."""
    gc.freeze()  # without a collection first: it costs 15 ms of start-up to free ~20 objects
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG, older, oldest)
