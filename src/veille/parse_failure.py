"""What a parse gives for a body that is not a feed: a message (a str, so it crosses process
boundaries) and, for an HTML page, the feed links it advertises.

Apart from parse.py so that what reads outcomes (schedule, health, the pass) does not import
feedparser, lxml and nh3: a pass where nothing changed parses nothing, and `veille fetch`
starts faster without them.
"""

from __future__ import annotations

from collections.abc import Iterable


class ParseFailure(str):
    """The message of a body that is not a feed (a str, so it crosses process boundaries)."""


class NotAFeed(ParseFailure):
    """An HTML page where a feed was expected, and the feed links it advertises.

    The links travel twice: as `advertised` (this object is pickled back from the parser
    process), and inside the message, because the pipeline hands schedule.after_fetch the
    message alone and the message is what the store keeps (`error_message`); `recognize`
    reads them back from it.
    """

    PREFIX = "HTML page, not a feed"
    _LINKS = "; it advertises "

    advertised: tuple[str, ...]

    def __new__(cls, advertised: Iterable[str] = ()) -> NotAFeed:
        links = tuple(advertised)
        # a URL never holds a bare space, so ", " cannot occur inside one once spaces are quoted
        quoted = [u.replace(" ", "%20") for u in links]
        text = (f"{cls.PREFIX}{cls._LINKS}{', '.join(quoted)}" if quoted
                else f"{cls.PREFIX}, and it advertises no feed")
        self = super().__new__(cls, text)
        self.advertised = tuple(quoted)
        return self

    def __reduce__(self) -> tuple[type[NotAFeed], tuple[tuple[str, ...]]]:
        return (NotAFeed, (self.advertised,))

    @classmethod
    def recognize(cls, message: str | None) -> NotAFeed | None:
        """The NotAFeed a message was made from (a stored error_message), else None."""
        if isinstance(message, NotAFeed):
            return message
        if not message or not message.startswith(cls.PREFIX):
            return None
        _, found, links = message.partition(cls._LINKS)
        return cls(links.split(", ") if found and links else ())
