"""Which parser, at which version, renders entries: stored with each entry (hash_version), so
that entries a parser upgrade renders differently are updated silently, not alerted again
(store.entries plans them as parser changes); and part of every entry fingerprint
(entry_fingerprint.py), so that an upgrade reads every item afresh."""

from __future__ import annotations

from importlib import metadata


def _parser_id() -> str:
    versions = []
    for name in ("feedparser", "nh3"):
        try:
            versions.append(f"{name}/{metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name}/?")
    # veille's own rendering: bumped when it changes what entries say (outlets/1: aggregator
    # titles lose their " - Le Monde" suffix), so those updates are silent too
    versions.append("outlets/1")
    return " ".join(versions)


PARSER_ID = _parser_id()
