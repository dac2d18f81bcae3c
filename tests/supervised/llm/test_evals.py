"""Scores (exact/contains match, ROUGE), the bundled evaluations, and the sandbox: generated
code runs only in a subprocess with a timeout, writes land in its temporary directory, and
no proxy or credential variables reach it."""

import os
import time

import pytest

from qmml.supervised.llm import evals
from qmml.supervised.llm.load import tiny_llama
from qmml.supervised.llm.sandbox import run_python, run_tests
from qmml.supervised.llm.tasks import get_task


def test_exact_and_contains_match():
    assert evals.exact_match(" 5 March 2021. ", "5 March 2021")
    assert not evals.exact_match("5 march 2021", "5 March 2021")
    assert evals.contains_match("The date is 5 March 2021.", "5 March 2021")
    assert not evals.contains_match("15 March 2021", "5 March 2021")
    assert not evals.contains_match("2500.5", "2500")
    s = evals.score_task(get_task("units"), get_task("units").items(2, 0), ["3", "abc"])
    assert s["format_ok"] == 0.5 and set(s) == {"exact_match", "contains_match", "format_ok"}


def test_rouge_by_hand():
    assert evals.rouge_n("the cat sat", "the cat sat") == 1.0
    assert evals.rouge_n("a b", "c d") == 0.0
    # P = 3/3, R = 3/4 -> F1 = 6/7
    assert evals.rouge_n("the cat sat", "the cat sat down") == pytest.approx(6 / 7)
    # LCS("a b c d", "a c d") = 3: P = 3/4, R = 1 -> F1 = 6/7
    assert evals.rouge_l("a b c d", "a c d") == pytest.approx(6 / 7)
    assert evals.rouge_n("a b a", "a a b", 2) == pytest.approx(0.5)
    assert evals.lead("One. Two! Three?", 2) == "One. Two!"
    doc, ref = evals.SUMMARIES[0]
    assert 0 < evals.rouge_l(evals.lead(doc), ref) < 1


def test_reference_solutions_pass_and_stubs_mostly_fail():
    for p in evals.CODE_PROBLEMS:
        assert evals.score_code(p, p.reference) == 1.0, p.name
    assert evals.score_code(evals.CODE_PROBLEMS[0], "def add(a, b):\n    return None\n") == 0


def test_extract_code():
    assert evals.extract_code("Sure:\n```python\ndef f():\n    return 1\n```\nDone") == (
        "def f():\n    return 1\n"
    )
    assert evals.extract_code("x = 1\ndef g(): pass").startswith("def g")


def test_an_infinite_loop_is_killed_at_the_timeout():
    t0 = time.monotonic()
    res = run_python("while True:\n    pass\n", timeout_s=1.0)
    assert res.timed_out and not res.ok and res.returncode is None
    assert time.monotonic() - t0 < 10
    passed, total, r = run_tests("def f():\n    while True: pass\n", ["assert f()"], timeout_s=1)
    assert (passed, total) == (0, 1) and r.timed_out


def test_a_file_write_lands_in_the_temporary_directory_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = "import os\nopen('out.txt', 'w').write('hi')\nprint(os.getcwd())\n"
    res = run_python(code, timeout_s=5)
    assert res.ok and res.files == ["out.txt"]
    assert not (tmp_path / "out.txt").exists()
    cwd = res.stdout.strip()
    assert "qmml-sandbox-" in cwd and not os.path.exists(cwd)  # deleted afterwards


def test_the_child_gets_a_minimal_environment(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:1")
    monkeypatch.setenv("SECRET_TOKEN", "x")
    res = run_python("import os, sys\nprint(sorted(os.environ))\nprint(sys.flags.isolated)")
    assert "PROXY" not in res.stdout.upper() and "SECRET" not in res.stdout
    assert res.stdout.split()[-1] == "1"  # -I: isolated mode


def test_errors_and_resource_limits():
    res = run_python("raise SystemExit(3)")
    assert res.returncode == 3 and not res.ok
    big = run_python("open('big', 'wb').write(b'0' * (64 * 1024 * 1024))", file_mb=1)
    assert not big.ok
    passed, total, _ = run_tests("def add(a, b): return a + b", ["assert add(1, 1) == 2", "1/0"])
    assert (passed, total) == (1, 2)


def test_generation_on_a_tiny_model_is_deterministic():
    lm = tiny_llama(0)
    msgs = [{"role": "user", "content": "Hello"}]
    a = evals.generate_text(lm.model, lm.tokenizer, msgs, max_new_tokens=5)
    assert a == evals.generate_text(lm.model, lm.tokenizer, msgs, max_new_tokens=5)
    assert isinstance(a, str)
