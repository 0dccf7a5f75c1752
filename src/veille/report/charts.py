"""The report's charts: Vega-Lite specifications built as plain dicts (pure), drawn as static
SVG (the HTML file) or PNG (email clients do not show SVG) by vl-convert, which runs Vega in
an embedded engine: no browser, no network, no system library.

vl_convert is imported on first use, so only the report pays for it. Times are given to
Vega as local wall-clock milliseconds on a UTC scale: the chart shows the user's days and
hours whatever the zone the engine runs in.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from ..i18n import tr
from .data import Report, WatchlistReport

BAR = "#2f6690"
SPIKE = "#f2b5a7"
#: Drawn at this size; the page scales the SVG to the screen (viewBox), at most 1.3 times
#: on a desktop, about 0.7 times on a phone (375 px), where 13 px labels stay readable.
WIDTH = 480
FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
_LOCALES = {"fr": "fr-FR", "en": "en-US"}
_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"  # a name only; nothing is fetched


def _ms(day: date) -> int:
    return int(datetime.combine(day, time(0), UTC).timestamp() * 1000)


def _wall_ms(when: datetime, tz: ZoneInfo) -> int:
    """`when` as the local clock shows it, counted as if it were UTC."""
    return int(when.astimezone(tz).replace(tzinfo=UTC).timestamp() * 1000)


def _config() -> dict[str, Any]:
    return {"font": FONT, "view": {"stroke": None},
            "axis": {"labelFontSize": 13, "titleFontSize": 13, "gridColor": "#e5e5e5",
                     "domainColor": "#999", "tickColor": "#999"}}


def by_day_spec(w: WatchlistReport, report: Report, height: int = 150) -> dict[str, Any]:
    """Mentions per day as bars, spike episodes as shaded bands behind them."""
    tz = ZoneInfo(report.timezone)
    lang = report.language
    bars = [{"a": _ms(d.day) + 6_000_000, "b": _ms(d.day) + 80_400_000, "n": d.mentions}
            for d in w.by_day]
    end = _ms(w.by_day[-1].day) + 86_400_000 if w.by_day else 0
    bands = [{"a": _wall_ms(e.started_at, tz),
              "b": _wall_ms(e.ended_at, tz) if e.ended_at else end} for e in w.episodes]
    x_axis = {"title": None, "format": "%d/%m" if lang == "fr" else "%b %d",
              "labelOverlap": True, "tickCount": 6}
    layers: list[dict[str, Any]] = []
    if bands:
        layers.append({"data": {"values": bands}, "mark": {"type": "rect", "color": SPIKE},
                       "encoding": {"x": {"field": "a", "type": "temporal",
                                          "scale": {"type": "utc"}, "axis": x_axis},
                                    "x2": {"field": "b"}}})
    layers.append({
        "data": {"values": bars},
        "mark": {"type": "rect", "color": BAR},
        "encoding": {
            "x": {"field": "a", "type": "temporal", "scale": {"type": "utc"}, "axis": x_axis},
            "x2": {"field": "b"},
            "y": {"field": "n", "type": "quantitative", "title": tr(lang, "mentions"),
                  "axis": {"tickMinStep": 1, "format": ",d"}}}})
    return {"$schema": _SCHEMA, "width": WIDTH, "height": height, "config": _config(),
            "layer": layers}


def share_spec(report: Report) -> dict[str, Any]:
    """Share of voice: one horizontal bar per watchlist, its part of all their mentions."""
    values = [{"name": w.name, "share": w.share, "n": w.mentions} for w in report.watchlists]
    y = {"field": "name", "type": "nominal", "sort": None, "title": None,
         "axis": {"labelLimit": 130}}
    x = {"field": "share", "type": "quantitative", "title": None,
         "scale": {"domain": [0, 1]},  # three ticks: five collide on a phone's width
         "axis": {"format": ".0%", "values": [0, 0.5, 1], "labelFlush": True}}
    return {"$schema": _SCHEMA, "width": WIDTH - 200, "height": {"step": 20},
            "config": _config(), "data": {"values": values},
            "encoding": {"y": y},
            "layer": [{"mark": {"type": "bar", "color": BAR}, "encoding": {"x": x}},
                      {"mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 13},
                       "encoding": {"x": x, "text": {"field": "share", "format": ".1%"}}}]}


def _vl() -> Any:
    import vl_convert  # ~15 MB of engine: only the report loads it
    return vl_convert


def to_svg(spec: dict[str, Any], language: str) -> str:
    loc = _LOCALES[language]
    return str(_vl().vegalite_to_svg(spec, format_locale=loc, time_format_locale=loc,
                                     allowed_base_urls=[]))


def to_png(spec: dict[str, Any], language: str, scale: float = 1.5) -> bytes:
    loc = _LOCALES[language]
    return squeeze_png(bytes(_vl().vegalite_to_png(spec, scale=scale, format_locale=loc,
                                                   time_format_locale=loc,
                                                   allowed_base_urls=[])))


def squeeze_png(png: bytes) -> bytes:
    """The same image, its pixel data deflated again at zlib's best level. vl-convert
    compresses for speed: a 796x279 chart came out at 206 kB, and at 12 kB once re-deflated;
    twenty of them make the difference between a 3.5 MB email and a light one."""
    out, idat, pos = [png[:8]], bytearray(), 8
    while pos + 8 <= len(png):
        (size,) = struct.unpack(">I", png[pos:pos + 4])
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + size]
        pos += 12 + size
        if kind == b"IDAT":
            idat += data
            continue
        if kind == b"IEND" and idat:
            out.append(_chunk(b"IDAT", zlib.compress(zlib.decompress(bytes(idat)), 9)))
        out.append(_chunk(kind, data))
    return b"".join(out)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def report_specs(report: Report) -> list[tuple[str, dict[str, Any]]]:
    """(name, spec) of every chart of a report: "share", then "day-<i>" per watchlist."""
    out: list[tuple[str, dict[str, Any]]] = []
    if len(report.watchlists) > 1:
        out.append(("share", share_spec(report)))
    out += [(f"day-{i}", by_day_spec(w, report)) for i, w in enumerate(report.watchlists)]
    return out


def draw_all(specs: Sequence[tuple[str, dict[str, Any]]], language: str, fmt: str
             ) -> dict[str, str | bytes]:
    """Every chart as SVG text or PNG bytes, by name."""
    if fmt == "svg":
        return {name: to_svg(spec, language) for name, spec in specs}
    return {name: to_png(spec, language) for name, spec in specs}
