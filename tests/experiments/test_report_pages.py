"""Every built-in experiment's --quick report, opened as a person would at 1280 px in headless
Chromium: the finding near the top, table-of-contents links that resolve, no horizontal page
overflow, every image decoded and none empty, and no verdict that its own interval denies."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from qmml.experiments.cli import builtin_experiments, resolve_spec
from qmml.experiments.overrides import apply_quick
from qmml.experiments.runner import run_experiment

NAMES = sorted(builtin_experiments())
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The report folder of every built-in experiment's --quick run."""
    from qmml.experiments.report import build_report

    out = tmp_path_factory.mktemp("quick-reports")
    folders = {}
    for name in NAMES:
        spec = apply_quick(resolve_spec(name))
        outcome = run_experiment(spec, out=out, executor="serial", progress=False)
        assert not outcome.failed, name
        build_report(outcome.run_dir.path)
        folders[name] = outcome.run_dir.path
    return folders


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _verdicts_agree_with_intervals(run: Path, html: str, higher: bool) -> None:
    comp = pd.read_csv(run / "comparisons.csv")
    for r in comp.itertuples():
        if r.verdict in ("better", "worse"):
            above, below = r.low > 0, r.high < 0
            want = (above if higher else below) if r.verdict == "better" else (
                below if higher else above)  # fmt: skip
            assert want, (
                f"{run.name}: {r.agent} vs {r.baseline} is '{r.verdict}' on [{r.low}, {r.high}]"
            )
    finding = html.split('id="finding"', 1)[1].split("</section>", 1)[0]
    for r in comp.itertuples():
        if r.verdict != "better":
            for sentence in finding.split("."):
                assert not (f"{r.agent} (" in sentence and " beat" in sentence), (run, sentence)


@pytest.mark.slow
@pytest.mark.browser
def test_every_quick_report_answers_first_and_fits_1280px(reports: dict[str, Path]) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: `make test` installs it (apt-get chromium)")
        pytest.skip("chromium not installed (make test installs it)")
    problems: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for name, run in reports.items():
            page.goto((run / "report.html").resolve().as_uri())
            page.wait_for_load_state("load")
            facts = page.evaluate(
                """() => {
                const f = document.querySelector('.finding-sentence');
                const links = Array.from(document.querySelectorAll('nav.toc a'));
                return {
                  findingTop: f ? f.getBoundingClientRect().top : null,
                  findingText: f ? f.textContent.trim() : '',
                  brokenLinks: links.map(a => a.getAttribute('href').slice(1))
                                    .filter(id => !document.getElementById(id)),
                  nLinks: links.length,
                  overflow: document.documentElement.scrollWidth - window.innerWidth,
                  images: Array.from(document.images).map(i => ({
                    ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth,
                    h: i.naturalHeight})),
                };
            }"""
            )
            if facts["findingTop"] is None or facts["findingTop"] > 700:
                problems.append(f"{name}: no finding in the first screen ({facts['findingTop']})")
            if len(facts["findingText"]) < 20:
                problems.append(f"{name}: empty finding")
            if facts["brokenLinks"] or facts["nLinks"] < 3:
                problems.append(f"{name}: table of contents {facts}")
            if facts["overflow"] > 0:
                problems.append(f"{name}: page wider than 1280 px by {facts['overflow']} px")
            bad = [i for i in facts["images"] if not i["ok"] or i["w"] < 200 or i["h"] < 100]
            if bad:
                problems.append(f"{name}: images not decoded or empty {bad}")
            html = (run / "report.html").read_text(encoding="utf-8")
            spec = resolve_spec(name)
            _verdicts_agree_with_intervals(run, html, spec.report.higher_is_better)
        browser.close()
    assert not problems, "\n".join(problems)
