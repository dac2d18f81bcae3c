"""Generated tasks with exact answers, for fine-tuning and prompting.

    task = get_task("date")
    train = task.items(100, seed=1, split="train")   # list[Item]
    test = task.items(20, seed=2, split="test")      # never shares a question with train

Each task draws questions from a seeded ``numpy`` generator. Train and test are disjoint by
construction, not by luck: every possible question is assigned to one split by a hash of its
key (CRC-32), so no seed can put a test question into training. Answers are exact strings;
``format`` is a regular expression a well-formed answer matches (format compliance).

Tasks: ``date`` (ISO date -> "5 March 2021"), ``units`` (metric unit conversions -> a
number), ``reverse`` (a word spelled backwards).
"""

from __future__ import annotations

import calendar
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["TASKS", "Item", "Task", "get_task"]


@dataclass(frozen=True)
class Item:
    """One question: ``prompt`` (the user message), ``answer`` (exact), ``key`` (identity)."""

    prompt: str
    answer: str
    key: str


@dataclass(frozen=True)
class Task:
    """A seeded question generator.

    Attributes:
        name: task name.
        instruction: the system-prompt sentence that describes the task.
        format: regular expression a well-formed answer matches in full.
        draw: ``draw(rng) -> Item``.
        test_share: share of all possible questions held out for testing.
    """

    name: str
    instruction: str
    format: str
    draw: Callable[[np.random.Generator], Item]
    test_share: float = 0.25

    def split_of(self, key: str) -> str:
        """``"test"`` or ``"train"``: a fixed function of the question's key."""
        bucket = zlib.crc32(f"{self.name}:{key}".encode()) % 1000
        return "test" if bucket < self.test_share * 1000 else "train"

    def items(self, n: int, seed: int, split: str = "train") -> list[Item]:
        """``n`` distinct questions of ``split`` drawn with ``seed``.

        Raises:
            ValueError: an unknown split, or too few distinct questions in it.
        """
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        rng = np.random.default_rng(seed)
        out: dict[str, Item] = {}
        for _ in range(200 * n + 1000):
            if len(out) == n:
                break
            item = self.draw(rng)
            if item.key not in out and self.split_of(item.key) == split:
                out[item.key] = item
        if len(out) < n:
            raise ValueError(f"task {self.name!r} has fewer than {n} {split} questions")
        return list(out.values())

    def well_formed(self, text: str) -> bool:
        """Does ``text`` (stripped) match the answer format?"""
        return re.fullmatch(self.format, text.strip()) is not None


_MONTHS = list(calendar.month_name)[1:]


def _date(rng: np.random.Generator) -> Item:
    year = int(rng.integers(1950, 2050))
    month = int(rng.integers(1, 13))
    day = int(rng.integers(1, calendar.monthrange(year, month)[1] + 1))
    iso = f"{year:04d}-{month:02d}-{day:02d}"
    return Item(f"Write the date {iso} in words.", f"{day} {_MONTHS[month - 1]} {year}", iso)


_UNITS = [  # (from, to, factor): value * factor
    ("km", "m", 1000),
    ("m", "cm", 100),
    ("kg", "g", 1000),
    ("L", "mL", 1000),
    ("cm", "mm", 10),
    ("h", "min", 60),
    ("min", "s", 60),
]


def _units(rng: np.random.Generator) -> Item:
    src, dst, factor = _UNITS[int(rng.integers(len(_UNITS)))]
    tenths = int(rng.integers(1, 200))  # 0.1 .. 19.9
    value = f"{tenths // 10}.{tenths % 10}" if tenths % 10 else str(tenths // 10)
    answer = tenths * factor
    ans = f"{answer // 10}.{answer % 10}" if answer % 10 else str(answer // 10)
    return Item(f"Convert {value} {src} to {dst}.", ans, f"{value}{src}>{dst}")


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _reverse(rng: np.random.Generator) -> Item:
    word = "".join(_LETTERS[int(i)] for i in rng.integers(0, 26, size=int(rng.integers(4, 8))))
    return Item(f"Spell the word '{word}' backwards.", word[::-1], word)


# capitals a small instruction-tuned model partly knows: a control task whose zero-shot score
# is above zero, so forgetting after fine-tuning on another task can be measured
_CAPITALS = {
    "Argentina": "Buenos Aires", "Australia": "Canberra", "Austria": "Vienna",
    "Belgium": "Brussels", "Brazil": "Brasilia", "Bulgaria": "Sofia", "Canada": "Ottawa",
    "Chile": "Santiago", "China": "Beijing", "Colombia": "Bogota", "Croatia": "Zagreb",
    "Cuba": "Havana", "Czechia": "Prague", "Denmark": "Copenhagen", "Egypt": "Cairo",
    "England": "London", "Estonia": "Tallinn", "Ethiopia": "Addis Ababa",
    "Finland": "Helsinki", "France": "Paris", "Germany": "Berlin", "Ghana": "Accra",
    "Greece": "Athens", "Hungary": "Budapest", "Iceland": "Reykjavik", "India": "New Delhi",
    "Indonesia": "Jakarta", "Iran": "Tehran", "Iraq": "Baghdad", "Ireland": "Dublin",
    "Israel": "Jerusalem", "Italy": "Rome", "Japan": "Tokyo", "Kenya": "Nairobi",
    "Latvia": "Riga", "Lebanon": "Beirut", "Lithuania": "Vilnius", "Mexico": "Mexico City",
    "Morocco": "Rabat", "Nepal": "Kathmandu", "Netherlands": "Amsterdam",
    "Nigeria": "Abuja", "Norway": "Oslo", "Pakistan": "Islamabad", "Peru": "Lima",
    "Philippines": "Manila", "Poland": "Warsaw", "Portugal": "Lisbon", "Romania": "Bucharest",
    "Russia": "Moscow", "Scotland": "Edinburgh", "Serbia": "Belgrade", "Slovakia": "Bratislava",
    "South Korea": "Seoul", "Spain": "Madrid", "Sweden": "Stockholm", "Syria": "Damascus",
    "Thailand": "Bangkok", "Turkey": "Ankara", "Ukraine": "Kyiv", "Vietnam": "Hanoi",
    "Wales": "Cardiff",
}  # fmt: skip
_COUNTRIES = sorted(_CAPITALS)


def _capital(rng: np.random.Generator) -> Item:
    country = _COUNTRIES[int(rng.integers(len(_COUNTRIES)))]
    return Item(f"What is the capital of {country}?", _CAPITALS[country], country)


TASKS: dict[str, Task] = {
    "date": Task(
        "date",
        "Rewrite the ISO date as day, month name and year, e.g. 2021-03-05 -> 5 March 2021. "
        "Answer with the date only.",
        r"\d{1,2} (" + "|".join(_MONTHS) + r") \d{4}",
        _date,
    ),
    "units": Task(
        "units",
        "Convert the quantity to the unit asked for. Answer with the number only.",
        r"\d+(\.\d+)?",
        _units,
    ),
    "reverse": Task(
        "reverse",
        "Spell the word backwards. Answer with the reversed word only.",
        r"[a-z]+",
        _reverse,
    ),
    "capital": Task(
        "capital",
        "Name the capital city of the country. Answer with the city name only.",
        r"[A-Z][A-Za-z]*( [A-Z][A-Za-z]*)*",
        _capital,
        test_share=0.5,
    ),
}


def get_task(name: str) -> Task:
    """The task called ``name``.

    Raises:
        ValueError: an unknown name (with the choices).
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose from {sorted(TASKS)}")
    return TASKS[name]
