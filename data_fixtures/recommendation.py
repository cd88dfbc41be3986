"""Synthetic catalogue, learners and interaction log for the recommender.

The catalogue holds courses and products in ten categories, each item tagged with topics from
its category's vocabulary and a few that cross categories (``python``, ``excel``, ``career``).

Each learner has hidden tastes: one to three favourite categories, liked tags, a level per
category and an activity level with a heavy tail (most people take a few courses, a few take
dozens). Each item has a hidden quality and a popularity with a heavy tail. A learner's history
unfolds in time: they browse a few candidates, enrol in one, later complete it or drop out,
and sometimes rate it. What they pick next depends on popularity, their favourite categories,
their tags, whether the level fits, and on what they just finished: after completing a
course a learner tends to stay in its category and move one level up. Items exist only from
their release date on, and new releases get a burst of attention.

Popularity alone is therefore a fair baseline, but a ranker that knows a learner's categories,
tags and last completion clearly beats it. Age band and sex are drawn independently of the
tastes and never influence an interaction.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from data_fixtures._common import (
    AS_OF_EPOCH,
    SECONDS_PER_DAY,
    draw_protected,
    iso_date,
    iso_utc,
    make_ids,
    stream,
)

__all__ = [
    "CATEGORIES",
    "EVENTS",
    "KINDS",
    "LEVELS",
    "generate_catalogue",
    "generate_interactions",
    "generate_learners",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_CATALOGUE_STREAM = 0x1CA7
_LEARNER_STREAM = 0x1EA2
_INTERACTION_STREAM = 0x1A7E

EVENTS = ("view", "enrol", "complete", "rate")
_VIEW, _ENROL, _COMPLETE, _RATE = range(len(EVENTS))
KINDS = ("course", "product")
LEVELS = ("beginner", "intermediate", "advanced")


@dataclass(frozen=True)
class _Category:
    name: str
    weight: float  # how many learners and items the category draws, relative to the others
    topics: tuple[tuple[str, str], ...]  # (topic in titles, the tag every item on it carries)
    tags: tuple[str, ...]


_CATEGORY_DEFS = (
    _Category(
        "data_engineering",
        1.3,
        (
            ("Data Engineering with Spark", "spark"),
            ("Data Pipelines with Airflow", "airflow"),
            ("SQL for Analytics", "sql"),
            ("Streaming with Kafka", "kafka"),
            ("Data Warehousing with dbt", "dbt"),
            ("Data Modelling", "data-modelling"),
            ("ETL with Python", "python"),
            ("Lakehouse Architecture", "big-data"),
        ),
        ("spark", "sql", "airflow", "kafka", "etl", "dbt", "data-modelling", "big-data", "python"),
    ),
    _Category(
        "machine_learning",
        1.4,
        (
            ("Machine Learning Foundations", "ml"),
            ("Deep Learning with PyTorch", "pytorch"),
            ("Natural Language Processing", "nlp"),
            ("MLOps in Production", "mlops"),
            ("Computer Vision", "computer-vision"),
            ("Time Series Forecasting", "forecasting"),
            ("Recommender Systems", "ml"),
            ("Statistics for Data Science", "statistics"),
        ),
        (
            "ml",
            "deep-learning",
            "pytorch",
            "nlp",
            "mlops",
            "statistics",
            "computer-vision",
            "forecasting",
            "python",
            "ai",
        ),
    ),
    _Category(
        "web_development",
        1.3,
        (
            ("Modern JavaScript", "javascript"),
            ("React from Scratch", "react"),
            ("Backend APIs with FastAPI", "api"),
            ("HTML and CSS Layouts", "css"),
            ("TypeScript Essentials", "typescript"),
            ("Web Performance", "javascript"),
            ("Node.js Services", "node"),
            ("Accessible Web Apps", "accessibility"),
        ),
        (
            "javascript",
            "react",
            "css",
            "html",
            "typescript",
            "api",
            "node",
            "accessibility",
            "python",
        ),
    ),
    _Category(
        "design",
        0.9,
        (
            ("UI Design Principles", "ui"),
            ("Figma for Teams", "figma"),
            ("Typography", "typography"),
            ("Design Systems", "ui"),
            ("UX Research", "ux"),
            ("Colour Theory", "branding"),
            ("Illustration Basics", "illustration"),
            ("Prototyping", "prototyping"),
        ),
        (
            "figma",
            "ux",
            "ui",
            "typography",
            "branding",
            "illustration",
            "prototyping",
            "accessibility",
        ),
    ),
    _Category(
        "marketing",
        0.9,
        (
            ("Digital Marketing", "advertising"),
            ("SEO Fundamentals", "seo"),
            ("Content Strategy", "content"),
            ("Email Campaigns", "email"),
            ("Social Media Advertising", "social-media"),
            ("Marketing Analytics", "analytics"),
            ("Copywriting", "copywriting"),
            ("Brand Building", "branding"),
        ),
        (
            "seo",
            "content",
            "email",
            "social-media",
            "advertising",
            "analytics",
            "copywriting",
            "branding",
        ),
    ),
    _Category(
        "finance",
        0.8,
        (
            ("Personal Finance", "budgeting"),
            ("Financial Modelling in Excel", "financial-modelling"),
            ("Investing Basics", "investing"),
            ("Corporate Accounting", "accounting"),
            ("Budgeting for Small Business", "budgeting"),
            ("Financial Statement Analysis", "accounting"),
            ("Tax Essentials", "tax"),
            ("Company Valuation", "valuation"),
        ),
        (
            "excel",
            "accounting",
            "investing",
            "budgeting",
            "valuation",
            "tax",
            "financial-modelling",
            "analytics",
        ),
    ),
    _Category(
        "languages",
        1.0,
        (
            ("Spanish for Beginners", "spanish"),
            ("Business English", "english"),
            ("Conversational French", "french"),
            ("German Grammar", "german"),
            ("Italian for Travellers", "italian"),
            ("Academic Writing in English", "writing"),
            ("Spanish Conversation", "conversation"),
            ("English Pronunciation", "english"),
        ),
        ("spanish", "english", "french", "german", "italian", "grammar", "conversation", "writing"),
    ),
    _Category(
        "photography",
        0.7,
        (
            ("Photography Fundamentals", "camera"),
            ("Portrait Lighting", "lighting"),
            ("Landscape Photography", "landscape"),
            ("Photo Editing with Lightroom", "lightroom"),
            ("Street Photography", "composition"),
            ("Smartphone Photography", "smartphone"),
            ("Product Photography", "lighting"),
            ("Portrait Retouching", "editing"),
        ),
        (
            "lighting",
            "lightroom",
            "composition",
            "portrait",
            "landscape",
            "editing",
            "camera",
            "smartphone",
        ),
    ),
    _Category(
        "productivity",
        0.8,
        (
            ("Time Management", "time-management"),
            ("Note-taking Systems", "note-taking"),
            ("Excel for Everyday Work", "excel"),
            ("Effective Meetings", "communication"),
            ("Public Speaking", "communication"),
            ("Project Management Basics", "project-management"),
            ("Remote Work Habits", "remote-work"),
            ("Writing Clear Emails", "writing"),
        ),
        (
            "excel",
            "time-management",
            "note-taking",
            "project-management",
            "communication",
            "writing",
            "remote-work",
            "habits",
        ),
    ),
    _Category(
        "cloud",
        1.1,
        (
            ("AWS Fundamentals", "aws"),
            ("Kubernetes in Practice", "kubernetes"),
            ("Docker Essentials", "docker"),
            ("Terraform for Infrastructure", "terraform"),
            ("Azure Administration", "azure"),
            ("Google Cloud for Data", "gcp"),
            ("Cloud Security", "security"),
            ("Serverless Applications", "aws"),
        ),
        (
            "aws",
            "kubernetes",
            "docker",
            "terraform",
            "azure",
            "gcp",
            "security",
            "devops",
            "python",
        ),
    ),
)
CATEGORIES = tuple(c.name for c in _CATEGORY_DEFS)
# Tags any item may carry besides its category's own.
_CROSS_TAGS = ("career", "certification", "hands-on", "ai", "beginner-friendly")

_COURSE_FORMATS = ("{topic}", "{topic} in Practice", "{topic}: Bootcamp", "{topic}: Masterclass")
_PRODUCT_FORMATS = (
    "{topic} Cheat Sheet",
    "{topic} Template Pack",
    "{topic} Workbook",
    "{topic} Ebook",
    "{topic} Project Kit",
)
_LEVEL_P = np.array([0.40, 0.35, 0.25])
_COURSE_SHARE = 0.75
_COURSE_PRICE = np.array([29.0, 49.0, 79.0])
_CATALOGUE_YEARS = 4
_RECENT_RELEASE_SHARE = 0.15

# Weights of the learner's choice model; a unit is a factor e in the odds of picking an item.
_W_POPULARITY = 1.0
_W_CATEGORY = 1.0
_W_TAGS = 2.0
_W_LEVEL_GAP = 0.9
_W_SAME_CATEGORY = 0.6
_W_NEXT_LEVEL = 1.0
_W_NOVELTY = 1.0
_NOVELTY_DAYS = 45.0
_POPULARITY_SPREAD = 1.5
# Share of a learner's interest outside their favourite categories.
_CRUMBS = 0.3
# Median enrolments per learner and year is about e to this power.
_ACTIVITY_LOG_MEDIAN = 1.3


def generate_catalogue(n_items: int = 300, *, seed: int = 7) -> pd.DataFrame:
    """Generate a catalogue of courses and products.

    Parameters
    ----------
    n_items : int, default 300
        Number of items.
    seed : int, default 7
        Seed of the random stream; the same arguments always give the same frame.

    Returns
    -------
    pandas.DataFrame
        ``item_id``, ``title`` (e.g. "Data Engineering with Spark — Intermediate"), ``kind``
        (course or product), ``category`` (one of :data:`CATEGORIES`), ``tags`` (2 to 4 tags
        joined by ``|``), ``level`` (beginner, intermediate, advanced), ``price_eur`` and
        ``released_at`` (ISO date, up to four years back).
    """
    if n_items < 0:
        raise ValueError(f"n_items must not be negative, got {n_items}")
    rng = stream(seed, _CATALOGUE_STREAM)
    weights = np.array([c.weight for c in _CATEGORY_DEFS])
    category = rng.choice(len(CATEGORIES), size=n_items, p=weights / weights.sum())
    is_course = rng.random(n_items) < _COURSE_SHARE
    level = rng.choice(len(LEVELS), size=n_items, p=_LEVEL_P)

    titles: list[str] = []
    tags: list[str] = []
    # Each (category, kind) hands out its title patterns in a shuffled order, so titles repeat
    # only in catalogues far larger than the pattern count, and then say which edition they are.
    pools: dict[tuple[int, bool], list[tuple[int, int]]] = {}
    used: dict[str, int] = {}
    for i in range(n_items):
        spec = _CATEGORY_DEFS[category[i]]
        key = (int(category[i]), bool(is_course[i]))
        if not pools.get(key):
            formats = _COURSE_FORMATS if is_course[i] else _PRODUCT_FORMATS
            pool = [(t, f) for t in range(len(spec.topics)) for f in range(len(formats))]
            pools[key] = [pool[j] for j in rng.permutation(len(pool))]
        topic_idx, format_idx = pools[key].pop()
        topic, primary_tag = spec.topics[topic_idx]
        formats = _COURSE_FORMATS if is_course[i] else _PRODUCT_FORMATS
        title = f"{formats[format_idx].format(topic=topic)} — {LEVELS[level[i]].capitalize()}"
        used[title] = used.get(title, 0) + 1
        if used[title] > 1:
            title = f"{title} (edition {used[title]})"
        titles.append(title)
        tags.append("|".join(_draw_tags(rng, spec, primary_tag)))

    price = np.where(
        is_course,
        _COURSE_PRICE[level] * rng.lognormal(0.0, 0.3, n_items),
        9.0 * rng.lognormal(0.0, 0.5, n_items),
    )
    # Shop prices end in .99.
    price = np.maximum(np.round(price), 5.0) - 0.01
    recent = rng.random(n_items) < _RECENT_RELEASE_SHARE
    age_days = np.where(
        recent,
        rng.uniform(7, 300, n_items),
        rng.uniform(300, _CATALOGUE_YEARS * 365, n_items),
    )
    released = AS_OF_EPOCH - (age_days * SECONDS_PER_DAY).astype(np.int64)

    return pd.DataFrame(
        {
            "item_id": make_ids("I", n_items, 5),
            "title": titles,
            "kind": np.where(is_course, KINDS[0], KINDS[1]),
            "category": np.asarray(CATEGORIES)[category],
            "tags": tags,
            "level": np.asarray(LEVELS)[level],
            "price_eur": np.round(price, 2),
            "released_at": iso_date(released),
        }
    )


def _draw_tags(rng: np.random.Generator, spec: _Category, primary: str) -> list[str]:
    others = [t for t in spec.tags if t != primary]
    n_own = int(rng.integers(1, 3))
    picked = [primary, *(others[j] for j in rng.choice(len(others), n_own, replace=False))]
    if rng.random() < 0.35:
        picked.append(_CROSS_TAGS[int(rng.integers(len(_CROSS_TAGS)))])
    return picked


def generate_learners(n_users: int, *, seed: int = 7) -> pd.DataFrame:
    """Generate learners with their protected attributes.

    Parameters
    ----------
    n_users : int
        Number of learners.
    seed : int, default 7
        Seed of the random stream; the same arguments always give the same frame.

    Returns
    -------
    pandas.DataFrame
        ``user_id``, ``age_band`` and ``sex``. The attributes are kept for fairness checks of
        the recommendations; they are never model features and do not shape the interactions.
    """
    if n_users < 0:
        raise ValueError(f"n_users must not be negative, got {n_users}")
    rng = stream(seed, _LEARNER_STREAM)
    _, bands, sexes = draw_protected(rng, n_users)
    return pd.DataFrame({"user_id": make_ids("U", n_users, 6), "age_band": bands, "sex": sexes})


@dataclass(frozen=True)
class _Items:
    """The catalogue as arrays, with the hidden traits the learners react to."""

    category: IntArray
    level: IntArray
    is_course: npt.NDArray[np.bool_]
    tags: FloatArray  # items x tags: 1/k on each of an item's k tags, so overlaps lie in [0, 1]
    released: IntArray  # Unix seconds
    quality: FloatArray
    log_popularity: FloatArray


@dataclass
class _Log:
    """Events collected learner by learner."""

    user: list[int] = field(default_factory=list)
    item: list[int] = field(default_factory=list)
    event: list[int] = field(default_factory=list)
    time: list[int] = field(default_factory=list)
    rating: list[float] = field(default_factory=list)

    def add(self, user: int, item: int, event: int, time: float, rating: float = np.nan) -> None:
        self.user.append(user)
        self.item.append(item)
        self.event.append(event)
        self.time.append(int(time))
        self.rating.append(rating)


def generate_interactions(
    learners: pd.DataFrame,
    catalogue: pd.DataFrame,
    *,
    seed: int = 7,
    days: int = 365,
) -> pd.DataFrame:
    """Generate the interaction log of ``learners`` with ``catalogue`` over the last ``days``.

    Parameters
    ----------
    learners : pandas.DataFrame
        Output of :func:`generate_learners` (only ``user_id`` is used).
    catalogue : pandas.DataFrame
        Output of :func:`generate_catalogue` (``item_id``, ``kind``, ``category``, ``tags``,
        ``level``, ``released_at``).
    seed : int, default 7
        Seed of the random stream; the same arguments always give the same frame.
    days : int, default 365
        Length of the history, ending at the fixed reference date of all fixtures.

    Returns
    -------
    pandas.DataFrame
        ``user_id``, ``item_id``, ``event`` (view, enrol, complete, rate), ``rating`` (1 to 5 on
        rate events, blank otherwise) and ``timestamp`` (ISO-8601, UTC), in time order. Per
        learner timestamps strictly increase; an item is viewed before it is enrolled in, and
        enrolled in before it is completed or rated. Products are bought (``enrol``) but never
        completed.
    """
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    rng = stream(seed, _INTERACTION_STREAM)
    items = _item_traits(rng, catalogue)
    n_users = len(learners)
    n_categories = len(CATEGORIES)
    window_start = AS_OF_EPOCH - days * SECONDS_PER_DAY
    # Nothing is logged in the last minute before the reference date: room to keep times strict.
    window_end = AS_OF_EPOCH - 60

    # Tastes. Favourite categories follow the category's pull; the rest get crumbs.
    pull = np.array([c.weight for c in _CATEGORY_DEFS])
    n_favourites = rng.choice([1, 2, 3], size=n_users, p=[0.4, 0.4, 0.2])
    tag_names = _tag_names(catalogue)
    category_tags = np.array(
        [[t in c.tags for t in tag_names] for c in _CATEGORY_DEFS], dtype=np.float64
    )
    # Heavy-tailed activity: most learners enrol a handful of times, some dozens, some never.
    episodes = np.floor(rng.lognormal(_ACTIVITY_LOG_MEDIAN, 1.0, n_users)).astype(np.int64)
    episodes = np.minimum(episodes, 80)
    episodes[rng.random(n_users) < 0.08] = 0
    engagement = rng.normal(0.0, 1.0, n_users)
    joined = window_start + (rng.beta(0.8, 1.6, n_users) * (window_end - window_start)).astype(
        np.int64
    )

    log = _Log()
    for u in range(n_users):
        favourites = rng.choice(
            n_categories, size=n_favourites[u], replace=False, p=pull / pull.sum()
        )
        affinity = _CRUMBS * rng.dirichlet(np.ones(n_categories))
        affinity[favourites] += rng.dirichlet(np.full(n_favourites[u], 2.0))
        affinity /= affinity.sum()
        # Liked tags: about half the vocabulary of each favourite category, and a few others.
        liked_p = np.clip(category_tags[favourites].sum(axis=0), 0.0, 1.0) * 0.5 + 0.03
        liked = (rng.random(len(tag_names)) < liked_p).astype(np.float64)
        skill = rng.choice(len(LEVELS), size=n_categories, p=[0.7, 0.22, 0.08])
        tag_match = items.tags @ liked
        static = (
            _W_POPULARITY * items.log_popularity
            + _W_CATEGORY * np.log(affinity * n_categories)[items.category]
            + _W_TAGS * tag_match
        )
        _simulate_learner(
            rng,
            log,
            user=u,
            items=items,
            static=static,
            tag_match=tag_match,
            skill=skill,
            n_episodes=int(episodes[u]),
            engagement=float(engagement[u]),
            start=int(joined[u]),
            end=window_end,
        )

    return _assemble(log, learners, catalogue)


def _tag_names(catalogue: pd.DataFrame) -> list[str]:
    vocabulary = {t for c in _CATEGORY_DEFS for t in c.tags} | set(_CROSS_TAGS)
    for tags in catalogue["tags"]:
        vocabulary.update(str(tags).split("|"))
    return sorted(vocabulary)


def _item_traits(rng: np.random.Generator, catalogue: pd.DataFrame) -> _Items:
    n_items = len(catalogue)
    tag_names = _tag_names(catalogue)
    position = {t: j for j, t in enumerate(tag_names)}
    tags = np.zeros((n_items, len(tag_names)))
    for i, value in enumerate(catalogue["tags"]):
        for t in str(value).split("|"):
            tags[i, position[t]] = 1.0
    tags /= np.maximum(tags.sum(axis=1, keepdims=True), 1.0)
    quality = rng.normal(0.0, 1.0, n_items)
    released = catalogue["released_at"].to_numpy().astype("datetime64[s]").astype(np.int64)
    return _Items(
        category=_codes(catalogue["category"], CATEGORIES),
        level=_codes(catalogue["level"], LEVELS),
        is_course=(catalogue["kind"] == KINDS[0]).to_numpy(),
        tags=tags,
        released=released,
        quality=quality,
        # Heavy-tailed, and good items spread by word of mouth.
        log_popularity=rng.normal(0.0, _POPULARITY_SPREAD, n_items) + 0.35 * quality,
    )


def _codes(values: pd.Series[str], names: tuple[str, ...]) -> IntArray:
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[str(v)] for v in values], dtype=np.int64)


def _simulate_learner(
    rng: np.random.Generator,
    log: _Log,
    *,
    user: int,
    items: _Items,
    static: FloatArray,
    tag_match: FloatArray,
    skill: IntArray,
    n_episodes: int,
    engagement: float,
    start: int,
    end: int,
) -> None:
    """Append one learner's history: browsing, enrolments, completions and ratings."""
    day = SECONDS_PER_DAY
    if n_episodes == 0:
        # Window shoppers: a few views and nothing else.
        for t in np.sort(rng.uniform(start, end, int(rng.integers(1, 4)))):
            open_ = np.flatnonzero(items.released <= t)
            if open_.size:
                choice = open_[np.argmax(static[open_] + rng.gumbel(size=open_.size))]
                log.add(user, int(choice), _VIEW, t)
        return

    enrolled = np.zeros(len(static), dtype=np.bool_)
    finished: list[tuple[int, int]] = []  # heap of (completion time, item)
    last_category, last_level = -1, -1
    # Enrolments start a few days after the learner shows up: they browse first.
    first = min(start + 3 * day, end - day)
    for t in np.sort(rng.uniform(first, end, n_episodes)):
        while finished and finished[0][0] <= t:
            _, done = heapq.heappop(finished)
            last_category, last_level = int(items.category[done]), int(items.level[done])
            skill[last_category] = max(skill[last_category], min(last_level + 1, 2))
        age_days = (t - items.released) / day
        utility = (
            static
            - _W_LEVEL_GAP * np.abs(items.level - skill[items.category])
            + _W_NOVELTY * np.exp(-np.maximum(age_days, 0.0) / _NOVELTY_DAYS)
        )
        if last_category >= 0:
            same = items.category == last_category
            utility += _W_SAME_CATEGORY * same
            utility += _W_NEXT_LEVEL * (same & (items.level == min(last_level + 1, 2)))
        # An item can be browsed only once released, at least a day before the enrolment.
        utility[(age_days < 1.0) | enrolled] = -np.inf
        if not np.isfinite(utility).any():
            continue
        noisy = utility + rng.gumbel(size=len(utility))
        considered = np.argsort(-noisy)[: 1 + int(rng.integers(0, 4))]
        considered = considered[np.isfinite(noisy[considered])]
        choice = int(considered[0])
        enrolled[choice] = True

        # Browsing comes first: the chosen item and the runners-up, within the last few days.
        for i, candidate in enumerate(considered):
            viewed = t - rng.uniform(60, 3 * day if i else day)
            viewed = max(viewed, float(items.released[candidate]))
            log.add(user, int(candidate), _VIEW, min(viewed, t - 60))
        log.add(user, choice, _ENROL, t)

        # Good courses at the right level, taken by keen learners, get finished.
        quality = float(items.quality[choice]) + 0.5 * float(tag_match[choice])
        level_gap = abs(int(items.level[choice]) - int(skill[items.category[choice]]))
        if items.is_course[choice]:
            p_complete = 1.0 / (1.0 + math.exp(-(0.2 + 0.8 * quality + 0.6 * engagement)))
            p_complete *= 0.7**level_gap
            took_days = rng.gamma(2.0, 8.0 * (1 + int(items.level[choice])))
            done_at = t + took_days * day
            if rng.random() < p_complete and done_at < end:
                log.add(user, choice, _COMPLETE, done_at)
                heapq.heappush(finished, (int(done_at), choice))
                rated_at = done_at + rng.uniform(60, 3 * day)
                if rng.random() < 0.5 and rated_at < end:
                    log.add(user, choice, _RATE, rated_at, _rating(rng, quality, level_gap))
            elif rng.random() < 0.12:
                # Drop-outs who leave a rating mostly leave a poor one.
                rated_at = t + rng.uniform(1, 30) * day
                if rated_at < end:
                    log.add(user, choice, _RATE, rated_at, _rating(rng, quality - 1.2, level_gap))
        elif rng.random() < 0.3:
            rated_at = t + rng.uniform(1, 20) * day
            if rated_at < end:
                log.add(user, choice, _RATE, rated_at, _rating(rng, quality, level_gap))


def _rating(rng: np.random.Generator, quality: float, level_gap: int) -> float:
    stars = 3.7 + 0.8 * quality - 0.4 * level_gap + rng.normal(0.0, 0.7)
    return float(np.clip(np.round(stars), 1.0, 5.0))


def _assemble(log: _Log, learners: pd.DataFrame, catalogue: pd.DataFrame) -> pd.DataFrame:
    user = np.asarray(log.user, dtype=np.int64)
    time = np.asarray(log.time, dtype=np.int64)
    event = np.asarray(log.event, dtype=np.int64)
    sequence = np.arange(user.size)
    # Per learner, order by time and, at the same second, by the order events were written
    # (a view before its enrolment); then nudge equal seconds apart so times strictly increase.
    order = np.lexsort((sequence, time, user))
    user, time, event = user[order], time[order], event[order]
    item = np.asarray(log.item, dtype=np.int64)[order]
    rating = np.asarray(log.rating, dtype=np.float64)[order]
    if user.size:
        starts = np.r_[True, user[1:] != user[:-1]]
        group_start = np.maximum.accumulate(np.where(starts, sequence, 0))
        rank = sequence - group_start
        base = time - rank
        # Running maximum within each learner: offset each group so groups do not leak.
        offset = user * (10**11)
        time = np.maximum.accumulate(base + offset) - offset + rank
    final = np.lexsort((sequence, user, time))
    return pd.DataFrame(
        {
            "user_id": learners["user_id"].to_numpy()[user[final]],
            "item_id": catalogue["item_id"].to_numpy()[item[final]],
            "event": np.asarray(EVENTS)[event[final]],
            "rating": rating[final],
            "timestamp": iso_utc(time[final]),
        }
    )
