"""Small bundled evaluations with honest baselines, and the scores they use.

- Task answers: :func:`exact_match`, :func:`contains_match`, format compliance
  (:meth:`~qmml.supervised.llm.tasks.Task.well_formed`), via :func:`score_task`.
- Summarisation: :data:`SUMMARIES` scored by ROUGE-1 / ROUGE-L F1 (:func:`rouge_n`,
  :func:`rouge_l`, written here: whitespace-and-punctuation tokens, lower-cased, no stemming)
  against the lead-sentence baseline :func:`lead`.
- Code: :data:`CODE_PROBLEMS`, hidden unit tests run on the generated function in a
  sandboxed subprocess (:mod:`qmml.supervised.llm.sandbox`), never in-process.
- Multi-turn consistency: :data:`DIALOGUES`, a fact given in turn 1 must come back in turn 3.

``generate_text`` decodes greedily (temperature 0), so a model's score on fixed prompts is
deterministic; the spread over seeds in the experiments comes from which shots and in which
order the prompt holds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qmml.supervised.llm.prompts import Message, render_chat, stop_ids
from qmml.supervised.llm.sandbox import run_tests
from qmml.supervised.llm.tasks import Item, Task

__all__ = [
    "CODE_PROBLEMS",
    "DIALOGUES",
    "SUMMARIES",
    "CodeProblem",
    "contains_match",
    "exact_match",
    "extract_code",
    "generate_text",
    "lead",
    "normalise",
    "rouge_l",
    "rouge_n",
    "score_code",
    "score_task",
]


def normalise(text: str) -> str:
    """Strip whitespace, one trailing full stop, and surrounding quotes."""
    text = text.strip().strip("\"'`").strip()
    return text[:-1].rstrip() if text.endswith(".") else text


def exact_match(output: str, answer: str) -> bool:
    """The normalised output equals the answer (case-sensitive)."""
    return normalise(output) == answer


def contains_match(output: str, answer: str) -> bool:
    """The answer appears in the output (as a whole token sequence, case-insensitive)."""
    pattern = r"(?<![\w.])" + re.escape(answer.lower()) + r"(?![\w]|\.\d)"
    return re.search(pattern, output.lower()) is not None


def score_task(task: Task, items: Sequence[Item], outputs: Sequence[str]) -> dict[str, float]:
    """Means of exact match, contains-match and format compliance over items."""
    n = max(len(items), 1)
    pairs = list(zip(outputs, items, strict=True))
    return {
        "exact_match": sum(exact_match(o, i.answer) for o, i in pairs) / n,
        "contains_match": sum(contains_match(o, i.answer) for o, i in pairs) / n,
        "format_ok": sum(task.well_formed(normalise(o)) for o in outputs) / n,
    }


def generate_text(
    model: Any, tokenizer: Any, messages: Sequence[Message], *, max_new_tokens: int = 24
) -> str:
    """The assistant's greedy reply to ``messages`` (chat template), stopped at end of turn."""
    import torch

    ids = torch.tensor([render_chat(tokenizer, messages, add_generation_prompt=True)])
    stops = stop_ids(tokenizer)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    with torch.no_grad():
        if hasattr(base, "generation_config"):
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=list(stops),
                pad_token_id=stops[0],
            )[0, ids.shape[1] :]
        else:
            out = base.generate(ids, max_new_tokens, temperature=0.0, stop_ids=stops)[0]
    new = [int(t) for t in out if int(t) not in stops]
    return str(tokenizer.decode(new, skip_special_tokens=True))


# -- summarisation -------------------------------------------------------------------------
_TOKEN = re.compile(r"\w+")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _f1(overlap: float, n_pred: int, n_ref: int) -> float:
    if overlap == 0 or n_pred == 0 or n_ref == 0:
        return 0.0
    p, r = overlap / n_pred, overlap / n_ref
    return 2 * p * r / (p + r)


def rouge_n(prediction: str, reference: str, n: int = 1) -> float:
    """ROUGE-N F1: clipped n-gram overlap (Lin 2004)."""

    def grams(t: list[str]) -> Counter[tuple[str, ...]]:
        return Counter(tuple(t[i : i + n]) for i in range(len(t) - n + 1))

    p, r = grams(_tokens(prediction)), grams(_tokens(reference))
    return _f1(sum((p & r).values()), sum(p.values()), sum(r.values()))


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1: longest common subsequence of tokens."""
    a, b = _tokens(prediction), _tokens(reference)
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return _f1(prev[-1], len(a), len(b))


def lead(text: str, n_sentences: int = 1) -> str:
    """The lead baseline: the first ``n_sentences`` sentences of the text."""
    parts = re.split(r"(?<=[.!?])\s+", text.strip())
    return " ".join(parts[:n_sentences])


SUMMARIES: list[tuple[str, str]] = [  # (document, reference summary), written for this project
    (
        "The city council voted on Tuesday to close the old bridge over the river. Engineers "
        "found cracks in two of its supports last month. A temporary ferry will carry "
        "commuters until a new bridge opens in three years.",
        "The council closed the cracked old bridge; a ferry runs until a new one opens.",
    ),
    (
        "A small bakery in the village has won a national prize for its rye bread. The owner "
        "uses a sourdough starter that is forty years old. Orders have tripled since the "
        "award was announced.",
        "A village bakery's rye bread won a national prize and orders tripled.",
    ),
    (
        "Heavy snow closed the mountain pass for the second time this week. Drivers were told "
        "to use the southern road instead. The pass should reopen on Friday if the weather "
        "improves.",
        "Snow closed the mountain pass again; it may reopen on Friday.",
    ),
    (
        "The museum has put a newly restored painting on display. Restorers spent two years "
        "removing layers of dirt and old varnish. Visitors can now see colours hidden for a "
        "century.",
        "A museum shows a painting restored over two years, revealing hidden colours.",
    ),
    (
        "Researchers tracked a group of swallows flying from Europe to Africa. Tiny sensors "
        "showed the birds covered up to three hundred kilometres a day. The trip took about "
        "six weeks.",
        "Sensors showed swallows flying up to 300 km a day on a six-week trip to Africa.",
    ),
    (
        "The school will start classes an hour later from September. Studies suggest teenagers "
        "sleep better and learn more with later starts. Buses will run on a new timetable.",
        "The school starts an hour later from September so teenagers sleep and learn better.",
    ),
]


# -- code ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CodeProblem:
    """A function to write: the request, a reference solution, hidden tests (asserts)."""

    name: str
    prompt: str
    reference: str
    tests: tuple[str, ...]


CODE_PROBLEMS: list[CodeProblem] = [
    CodeProblem(
        "add",
        "Write a Python function add(a, b) that returns the sum of a and b.",
        "def add(a, b):\n    return a + b\n",
        ("assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(2.5, 2.5) == 5.0"),
    ),
    CodeProblem(
        "is_even",
        "Write a Python function is_even(n) that returns True if the integer n is even.",
        "def is_even(n):\n    return n % 2 == 0\n",
        ("assert is_even(4)", "assert not is_even(7)", "assert is_even(0)"),
    ),
    CodeProblem(
        "reverse_string",
        "Write a Python function reverse_string(s) that returns the string s reversed.",
        "def reverse_string(s):\n    return s[::-1]\n",
        ("assert reverse_string('abc') == 'cba'", "assert reverse_string('') == ''"),
    ),
    CodeProblem(
        "maximum",
        "Write a Python function maximum(xs) that returns the largest number in the list xs.",
        "def maximum(xs):\n    return max(xs)\n",
        ("assert maximum([1, 5, 3]) == 5", "assert maximum([-2, -7]) == -2"),
    ),
    CodeProblem(
        "count_vowels",
        "Write a Python function count_vowels(s) that returns how many of a, e, i, o, u "
        "(lower case) the string s contains.",
        "def count_vowels(s):\n    return sum(c in 'aeiou' for c in s)\n",
        ("assert count_vowels('banana') == 3", "assert count_vowels('xyz') == 0"),
    ),
]


def extract_code(text: str) -> str:
    """The first fenced code block of a reply, else the reply from its first ``def``."""
    fence = re.search(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", text, re.S)
    if fence:
        return fence.group(1)
    start = text.find("def ")
    return text[start:] if start >= 0 else text


def score_code(problem: CodeProblem, code: str, *, timeout_s: float = 5.0) -> float:
    """Share of the problem's hidden tests the code passes (run in the sandbox)."""
    passed, total, _ = run_tests(code, problem.tests, timeout_s=timeout_s)
    return passed / total


# -- multi-turn consistency ----------------------------------------------------------------
DIALOGUES: list[tuple[str, str, str]] = [  # (fact sentence, later question, expected word)
    ("My dog is called Biscuit.", "What is my dog called?", "Biscuit"),
    ("I live in Lisbon.", "Which city do I live in?", "Lisbon"),
    ("My favourite colour is green.", "What is my favourite colour?", "green"),
    ("I was born in 1987.", "In which year was I born?", "1987"),
    ("My sister's name is Ingrid.", "What is my sister's name?", "Ingrid"),
]
FILLER = "Can you suggest a short name for a boat?"


def dialogue(fact: str, reply: str, filler_reply: str, question: str) -> list[Message]:
    """Turn 1 states the fact, turn 2 changes the subject, turn 3 asks about the fact."""
    return [
        {"role": "user", "content": fact},
        {"role": "assistant", "content": reply},
        {"role": "user", "content": FILLER},
        {"role": "assistant", "content": filler_reply},
        {"role": "user", "content": question},
    ]
