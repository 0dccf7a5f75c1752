"""Drives lemon24/reader for bench_peers.py; runs in the bench virtualenv, not veille's.

    python reader_driver.py DB OPML add       # subscribe to the farm's feeds (not measured)
    python reader_driver.py DB OPML update    # one update of every feed, 16 workers
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

from reader import make_reader


def main() -> None:
    db, opml, action = sys.argv[1:4]
    reader = make_reader(db)
    if action == "add":
        for outline in ET.parse(opml).iter("outline"):
            reader.add_feed(outline.get("xmlUrl"), exist_ok=True)
    else:
        # scheduled=False: every feed, as `veille fetch` does (by default reader would skip
        # the feeds it updated less than an hour ago)
        reader.update_feeds(scheduled=False, workers=16)
    entries = reader.get_entry_counts().total
    reader.close()
    print(f"{entries} entries")


if __name__ == "__main__":
    main()
