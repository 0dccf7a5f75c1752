"""A pass holds no more than it needs: a bounded number of tasks however many feeds, and no
parser process when its few changed feeds parse faster in the process."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from veille import parser_pool, pipeline
from veille.config import settings_from_toml
from veille.models import FeedSource, FetchResult, ParsedFeed
from veille.pipeline import FeedPass
from veille.store import Store

from .conftest import FeedServer, StubParser, Workspace, rss


def test_a_pass_over_many_feeds_holds_backlog_tasks_not_one_per_feed(monkeypatch):
    monkeypatch.setattr(pipeline, "BACKLOG", 4)
    settings = settings_from_toml({"fetch": {"concurrency": 2}}, None, {"HOME": "/tmp"})
    store = Store.memory()
    store.sync_feeds([FeedSource(f"https://f{i}") for i in range(200)])
    tasks: list[int] = []

    class Fetcher:
        async def fetch(self, request):
            tasks.append(len(asyncio.all_tasks()))
            await asyncio.sleep(0)
            return FetchResult(request.url, "ok", 200, f"<rss>{request.url}</rss>".encode(), {})

    class Parser(StubParser):
        async def parse(self, url, body, headers, known=None):
            return ParsedFeed("t", None, None, None, ())

    async def run():
        feed_pass = FeedPass(settings, store, Fetcher(), Parser(), pipeline.Matcher([]),
                             lambda: datetime(2026, 1, 1, tzinfo=UTC), random.Random(1))
        return await feed_pass.run(store.feeds())

    summary = asyncio.run(run())
    assert summary.count("ok") == 200 and len(tasks) == 200
    assert max(tasks) <= 4 + 1  # the workers, and the pass's own task


def test_a_fetch_of_a_few_changed_feeds_starts_no_parser_process(
        feed_server: FeedServer, workspace: Workspace, monkeypatch: pytest.MonkeyPatch):
    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("a parser process was started")

    monkeypatch.setattr(parser_pool, "ParseWorkers", no_pool)
    urls = []
    for i in range(5):
        feed_server.serve(f"/f{i}.xml", rss([{"title": f"Nestlé {i}.{j}", "guid": f"{i}.{j}"}
                                             for j in range(20)]))
        urls.append(feed_server.url(f"/f{i}.xml"))
    workspace.write_feeds(urls)
    out = workspace.run("fetch").stdout
    assert "100 new entries" in out, out
