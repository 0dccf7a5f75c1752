"""Early warning, with the daemon as a subprocess: a burst of distinct stories about a
watchlist sends one spike alert at once, whatever its digest schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from .conftest import FeedServer, Workspace, pubdate, rss
from .test_daemon import start

TOPICS = ["rappelle des pizzas Buitoni contaminées", "ferme l'usine de Vittel en Vosges",
          "condamnée pour pollution plastique au Brésil", "annonce un plan social à Vevey",
          "rachète une marque de café colombienne", "visée par une enquête sur l'eau minérale",
          "boycottée par des étudiants lyonnais", "publie des résultats trimestriels décevants",
          "accusée de greenwashing par une ONG", "change de directeur général en urgence",
          "retire un lait infantile des rayons", "augmente ses prix de chocolat en Europe",
          "attaquée pour l'huile de palme", "investit dans les protéines végétales"]


def story(i: int, topic: str, when: datetime) -> dict[str, str]:
    return {"title": f"Nestlé {topic}", "link": f"https://ex{i}.fr/article-{i}",
            "guid": f"s{i}", "pubDate": pubdate(when),
            "description": f"Article numéro {i} : Nestlé {topic}, selon nos informations "
                           f"publiées ce jour (dossier {i * 37})."}


def test_a_burst_of_stories_sends_one_spike_alert(feed_server: FeedServer,
                                                  workspace: Workspace):
    now = datetime.now(UTC)
    # four days of archives: one story every eight hours, the watchlist's usual rate
    archive = [story(100 + k, f"et le dossier quotidien numéro {k} {'abcdefghijkl'[k]}",
                     now - timedelta(hours=8 * (k + 1))) for k in range(12)]
    feed = feed_server.serve("/f.xml", rss(archive))
    feed_server.routes["/hook"] = (204, {}, b"")
    workspace.config.write_text(
        'database = "var/veille.db"\n[fetch]\ninterval = "1s"\ntimeout = "10s"\n'
        f'[channels.hook]\ntype = "webhook"\nurl = "{feed_server.url("/hook")}"\n')
    workspace.write_watchlists('[[watchlist]]\nname = "nestle"\nquery = "nestlé"\n'
                               'schedule = "daily 08:00"\nchannels = ["hook"]\n')
    workspace.write_feeds([feed])
    daemon = start(workspace, None)
    try:
        feed_server.wait_for("/f.xml", count=2)
        burst = [story(i, topic, now - timedelta(minutes=3 * i))
                 for i, topic in enumerate(TOPICS)]
        feed_server.serve("/f.xml", rss(burst + archive))
        [hook] = feed_server.wait_for("/hook", timeout=60)
        alert = json.loads(hook.body)
        assert alert["kind"] == "spike" and alert["watchlist"] == "nestle", alert
        assert alert["count"] >= 12 and alert["factor"] >= 4 and alert["baseline"] < 3
        assert set(alert) == {"id", "kind", "watchlist", "generated_at", "window", "count",
                              "baseline", "factor", "matches"}
        assert alert["matches"] and all(m["story_id"] for m in alert["matches"])
        assert alert["matches"][0]["title"].startswith("Nestlé")
        assert hook.headers["x-veille-delivery"] == alert["id"]
        # once per episode: more polls, more of the burst, no second alert
        polls = len(feed_server.requests("/f.xml"))
        feed_server.wait_for("/f.xml", count=polls + 3)
        daemon.wait_for_line("spike: [veille] ALERTE nestle")
        report = json.loads(workspace.run("watch", "spikes", "--format", "json").stdout)
        assert report[0]["in_episode_since"] and report[0]["count"] >= 12
        text = workspace.run("watch", "spikes").stdout
        assert " stories in the last 2 h, usually " in text and "SPIKE since" in text, text
        if "  episode " in text:  # the episode under way is said to be going on
            assert " → ongoing: peak " in text and "→ -" not in text, text
    finally:
        daemon.stop()
    assert len(feed_server.requests("/hook")) == 1, daemon.log


def test_a_feed_that_goes_blind_sends_one_health_alert(feed_server: FeedServer,
                                                       workspace: Workspace):
    ok = feed_server.serve("/ok.xml", rss([story(1, "va bien", datetime.now(UTC))]))
    gone = feed_server.serve("/gone.xml", "Gone", status=410)
    feed_server.routes["/hook"] = (204, {}, b"")
    workspace.config.write_text(
        'database = "var/veille.db"\n[fetch]\ninterval = "1s"\ntimeout = "10s"\n'
        f'[channels.hook]\ntype = "webhook"\nurl = "{feed_server.url("/hook")}"\n'
        '[health]\nchannels = ["hook"]\n')
    workspace.write_watchlists('[[watchlist]]\nname = "nestle"\nquery = "nestlé"\n'
                               'schedule = "daily 08:00"\n')
    workspace.write_feeds([ok, gone])
    daemon = start(workspace, None)
    try:
        [hook] = feed_server.wait_for("/hook", timeout=60)
        alert = json.loads(hook.body)
        assert set(alert) >= {"id", "kind", "generated_at", "feed", "feed_url", "state",
                              "previous", "since", "message", "moved_to"}
        assert alert["kind"] == "health" and alert["feed_url"] == gone, alert
        assert alert["state"] == "gone" and alert["previous"] == "ok"
        daemon.wait_for_line("feed health: [veille] SANTÉ")
        polls = len(feed_server.requests("/ok.xml"))
        feed_server.wait_for("/ok.xml", count=polls + 3)  # the state lasts: no second alert
        doctor = workspace.run("feeds", "doctor", "--format", "json", code=None)
        assert doctor.exit_code != 0 and gone in doctor.stdout
    finally:
        daemon.stop()
    assert len(feed_server.requests("/hook")) == 1, daemon.log
