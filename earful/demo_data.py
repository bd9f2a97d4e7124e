"""The bundled demo data: one fictional brand, "Larkspur" (a team task-planning app),
over about 60 days, generated deterministically from a seed and written by the team.

Volumes follow a daily rhythm (busy afternoons UTC) and a weekly one (two quiet days a
week), and one negative storm -- customers charged twice after an app update -- runs from
13:00 to 21:00 UTC the day before the end.

The same demo at any hour: the items are laid out on a grid that starts at a UTC midnight
``DAYS`` days before the end's day, drawn from one seeded stream for whole days, and cut at
the end's hour. So an end at 08:43 or at 16:43, on a Monday or a Saturday, in any month,
gives the same items at the same offsets from that midnight (a later end only adds the
items of its last hours), and the detector, whose weekday factors start equal, sees the same
series whatever the calendar says. The quiet days are days of the grid, not Saturdays and
Sundays, for that reason.

The demo server (``earful.demo``) serves these items in the shapes the real sources use;
they reach the database only through the collectors.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field

BRAND = "Larkspur"
SUBREDDIT = "larkspur"
SEED = 20261123
DAYS = 60
STORM_HOUR = 13   # the storm starts at 13:00 UTC the day before the end's day
STORM_HOURS = 8   # and lasts this long, so it is over before the end's day begins
QUIET_DAYS = (5, 6)  # days of the grid (index mod 7) with fewer mentions, like a weekend

# Mentions per day at an average hour and day, per source kind. Reddit's search answers at
# most 1,000 items, so comments stay well under that over DAYS: a cap would drop the oldest,
# and which ones would depend on the end's hour.
RATES = {"reddit_post": 6, "reddit_comment": 14, "trustpilot": 4, "appstore": 3,
         "hn_story": 0.5, "hn_comment": 3, "alert": 3}
# Extra negative mentions per hour during the storm.
STORM_RATES = {"reddit_post": 1.5, "reddit_comment": 3, "trustpilot": 1.5, "appstore": 1.5,
               "hn_comment": 0.5}

FEATURES = ["the board view", "recurring tasks", "the calendar sync", "the Slack integration",
            "offline mode", "the Gantt timeline", "task templates", "the mobile widget",
            "the new dashboard", "keyboard shortcuts", "the time tracker", "guest access"]
GOOD = ["really solid", "a joy to use", "fast", "exactly what we needed", "well thought out",
        "so much better than Trello", "great", "smooth", "surprisingly powerful"]
PROBLEMS = ["keeps logging me out", "lost two of my tasks", "is painfully slow today",
            "crashes when I open a project", "stopped syncing with Google Calendar",
            "shows the wrong due dates", "made notifications useless",
            "broke the export to CSV", "is buggy on Android"]
NEUTRAL = ["Does {b} support {f}?", "How do you all set up {f} in {b}?",
           "Comparing {b} and Asana for a 12-person team, any thoughts?",
           "Is there a way to archive old boards in {b}?",
           "{b} announced {f} in today's changelog.",
           "Moving our agency to {b} next month, tips on {f} welcome.",
           "Where is the {f} setting in the latest {b}?"]
POSITIVE = ["Switched our whole team to {b} and {f} is {g}.",
            "{b} support fixed my issue in ten minutes. {f} is {g}.",
            "Honestly {b} is {g}. {f} alone saved us hours.",
            "Love how {b} handles {f}, {g}.",
            "Three months in with {b}: {f} is {g}, would recommend."]
NEGATIVE = ["{b} {p}. Really frustrating.", "Why does {b} {p2}? Losing patience with it.",
            "{b} {p} again and support has not answered in three days.",
            "Not impressed: {b} {p}.", "Thinking of leaving {b}, it {p} every week."]
STORM = ["{b} charged me twice this month after the 4.2 update. Still waiting on a refund.",
         "Double charge from {b} again!! Support never answered my ticket. Want my refund.",
         "Anyone else charged twice by {b}? Billing is broken since the update.",
         "{b} billed our card twice and the refund button does nothing. Cancelled.",
         "Warning: {b} double charged my subscription. Feels like a scam until they refund.",
         "Got charged twice by {b}, support chat closed, no refund. Unacceptable."]
TITLES = {"positive": ["Really happy with {b}", "{b} keeps getting better", "Great tool"],
          "neutral": ["Question about {b}", "{b} setup question", "Trying {b}"],
          "negative": ["{b} problems", "Disappointed with {b}", "{b} is getting worse"],
          "storm": ["Charged twice by {b}", "{b} billing is broken", "Refund please, {b}"]}
AUTHORS = ["maple_dev", "ops_jen", "kettle42", "pm_carlos", "ngozi_builds", "trailmix",
           "quietfox", "deskplant", "arjun_k", "sofia.m", "boardgamer", "late_standup",
           "nomadic_pm", "h_tanaka", "rustacean77", "owl_at_noon", "lena_codes", "bkwright",
           "teapot418", "marta_ops", "dv_chen", "gus_the_pm", "Priya S.", "Tom B.", "Elena R."]
SITES = ["techcrunch.example", "thenextweb.example", "zdnet.example", "producthunt.example",
         "medium.example", "smallbiztrends.example", "theverge.example"]


@dataclass
class Item:
    """One demo mention before it takes the shape of a source's API."""

    kind: str  # key of RATES
    index: int
    created: dt.datetime
    mood: str  # positive, neutral, negative, storm
    title: str
    text: str
    author: str
    rating: int | None = None
    site: str = ""
    parent: int | None = None  # index of the reddit post / hn story a comment belongs to
    extra: dict = field(default_factory=dict)

    @property
    def epoch(self) -> int:
        return int(self.created.timestamp())


def hour_weight(moment: dt.datetime, day: int) -> float:
    """Busy afternoons (peak 16:00 UTC), quiet nights, two quieter days a week; mean about 1.

    ``day`` is the day's index on the demo's grid: the quiet days follow it rather than the
    calendar so the data are the same whatever weekday the demo ends on.
    """
    daily = 1 + 0.6 * math.cos(2 * math.pi * (moment.hour - 16) / 24)
    weekly = 0.65 if day % 7 in QUIET_DAYS else 1.14
    return daily * weekly


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: rates here are small (< 10 per hour).
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _text(rng: random.Random, mood: str) -> str:
    pool = {"positive": POSITIVE, "neutral": NEUTRAL, "negative": NEGATIVE, "storm": STORM}[mood]
    problem = rng.choice(PROBLEMS)
    text = rng.choice(pool).format(
        b=BRAND, f=rng.choice(FEATURES), g=rng.choice(GOOD), p=problem,
        p2=problem.replace("keeps", "keep").replace("is ", "act ", 1).replace(
            "crashes", "crash").replace("stopped", "stop").replace("shows", "show").replace(
            "made", "make").replace("broke", "break").replace("lost", "lose"))
    return ". ".join(part[:1].upper() + part[1:] for part in text.split(". "))


def _stars(rng: random.Random, mood: str) -> int:
    if mood == "storm":
        return 1
    if mood == "negative":
        return rng.choice([1, 1, 2, 2, 3])
    if mood == "neutral":
        return rng.choice([3, 3, 4])
    return rng.choice([4, 5, 5, 5])


def grid_start(end: dt.datetime, days: int = DAYS) -> dt.datetime:
    """The UTC midnight ``days`` days before ``end``'s UTC day: where the demo's grid starts."""
    midnight = end.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - dt.timedelta(days=days)


def storm_onset(end: dt.datetime) -> dt.datetime:
    """STORM_HOUR UTC on the day before ``end``'s UTC day."""
    return grid_start(end, 1) + dt.timedelta(hours=STORM_HOUR)


def generate(end: dt.datetime, days: int = DAYS, seed: int = SEED) -> list[Item]:
    """All demo items from the grid's start up to ``end``'s hour (exclusive), oldest first.

    The seeded stream is drawn for whole days up to the end of ``end``'s UTC day and then
    cut, so the items never depend on the end's hour, weekday or month (module docstring).
    """
    rng = random.Random(seed)
    end = end.astimezone(dt.UTC)
    cutoff = end.replace(minute=0, second=0, microsecond=0)
    start = grid_start(end, days)
    stop = grid_start(end, -1)  # midnight after the end's day
    storm_start = storm_onset(end)
    storm_end = storm_start + dt.timedelta(hours=STORM_HOURS)
    items: list[Item] = []
    counters = dict.fromkeys(RATES, 0)
    posts: list[int] = []
    stories: list[int] = []
    hour = start
    while hour < stop:
        weight = hour_weight(hour, (hour - start).days)
        storm = storm_start <= hour < storm_end
        for kind, per_day in RATES.items():
            moods = [None] * _poisson(rng, per_day / 24 * weight)
            if storm and kind in STORM_RATES:
                moods += ["storm"] * _poisson(rng, STORM_RATES[kind])
            for mood in moods:
                mood = mood or rng.choices(["positive", "neutral", "negative"],
                                           weights=[55, 28, 17])[0]
                created = hour + dt.timedelta(seconds=rng.randrange(3600))
                counters[kind] += 1
                item = Item(kind=kind, index=counters[kind], created=created, mood=mood,
                            title=rng.choice(TITLES[mood]).format(b=BRAND),
                            text=_text(rng, mood), author=rng.choice(AUTHORS))
                if kind in ("trustpilot", "appstore"):
                    item.rating = _stars(rng, mood)
                if kind == "alert":
                    item.site = rng.choice(SITES)
                    item.title = f"{BRAND}: {item.text.split('.')[0]}"
                if kind == "reddit_comment" and posts:
                    item.parent = rng.choice(posts[-30:])
                if kind == "hn_comment" and stories:
                    item.parent = rng.choice(stories[-10:])
                if kind == "reddit_post":
                    posts.append(item.index)
                if kind == "hn_story":
                    stories.append(item.index)
                items.append(item)
        hour += dt.timedelta(hours=1)
    items = [item for item in items if item.created < cutoff]
    items.sort(key=lambda i: i.created)
    return items
