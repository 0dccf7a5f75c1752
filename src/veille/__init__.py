"""veille: watch feeds for what is said about a brand, a person or a cause."""

from __future__ import annotations

__version__ = "0.1.0"
