"""Reports: rebuilt from stored results alone, compared across runs, rendered in a browser."""

import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from qmml.experiments.cli import main, resolve_spec
from qmml.experiments.compare import compare_runs
from qmml.experiments.overrides import apply_overrides, apply_quick
from qmml.experiments.report import build_report, pairwise_table
from qmml.experiments.runner import run_experiment
from qmml.experiments.spec import SpecError


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    spec = apply_quick(resolve_spec("bandit-testbed"))
    a = run_experiment(spec, out=out, executor="serial", progress=False)
    b = run_experiment(
        apply_overrides(spec, ["agents.eps-0.1.epsilon=0.2"]),
        out=out,
        executor="serial",
        progress=False,
    )
    build_report(a.run_dir.path)
    build_report(b.run_dir.path)
    return a.run_dir.path, b.run_dir.path


def test_report_files_and_contents(two_runs):
    run, _ = two_runs
    html = (run / "report.html").read_text()
    pngs = sorted((run / "figures").glob("*.png"))
    assert len(pngs) == 6  # the six plots of the spec
    # the probability-of-improvement figure is drawn only where seeds allow a verdict
    drawn_comparison = 'alt="probability of improvement over the baseline"' in html
    assert html.count("data:image/png;base64,") == len(pngs) + drawn_comparison
    assert "Figure 2.2 (top): average reward" in html
    assert html.index("Finding") < html.index("Contents") < html.index("Figure 2.2 (top)")
    assert "Smoke run: 2 seed(s)" in html and "too few for an interval" in html
    assert "95%" in html and "Every pair of agents" in html
    assert not re.search(r"(src|href)=['\"]https?://", html)  # opens offline
    md = (run / "summary.md").read_text()
    assert "| greedy |" in md and "![Figure 2.6" in md
    summary = (run / "summary.csv").read_text().splitlines()
    assert summary[0] == "agent,metric,n,mean,ci_low,ci_high,iqm"


def test_report_rebuilds_identically_from_stored_results(two_runs, tmp_path):
    run, _ = two_runs
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    shutil.rmtree(copy / "trials")  # the report must not need the per-trial files
    for f in ("report.html", "summary.md", "summary.csv"):
        (copy / f).unlink()
    shutil.rmtree(copy / "figures")
    assert main(["report", str(copy)]) == 0
    for f in ("report.html", "summary.md", "summary.csv"):
        # the only difference allowed is the folder the report names as its run
        rebuilt = (copy / f).read_text().replace(str(copy), str(run))
        assert rebuilt == (run / f).read_text(), f
    for png in (run / "figures").glob("*.png"):
        assert (copy / "figures" / png.name).read_bytes() == png.read_bytes()


def test_compare_two_runs(two_runs, tmp_path):
    a, b = two_runs
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert f"{a.name}:eps-0.1" in html and f"{b.name}:eps-0.1" in html
    assert len(list((out / "figures").glob("*.png"))) >= 6


def test_report_errors(tmp_path, capsys):
    with pytest.raises(SpecError, match="not found"):
        build_report(tmp_path / "missing")
    with pytest.raises(SpecError, match="not a run folder"):
        build_report(tmp_path)
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    with pytest.raises(SpecError, match="at least two"):
        compare_runs([tmp_path])


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.browser
def test_report_renders_in_headless_chromium(two_runs, tmp_path):
    """Open report.html in a real browser: every figure decoded and drawn, nothing broken."""
    playwright = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing in CI: `make test` installs it (apt-get chromium)")
        pytest.skip("chromium not installed (make test installs it)")
    run, _ = two_runs
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=exe,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        failed: list[str] = []
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(Path(run / "report.html").resolve().as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("""() => Array.from(document.images).map(i => ({
            ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth, h: i.naturalHeight,
            shown: i.getBoundingClientRect().width}))""")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        title = page.title()
        browser.close()
    assert len(images) == len(list((run / "figures").glob("*.png")))
    assert all(i["ok"] and i["w"] > 300 and i["h"] > 200 and i["shown"] > 100 for i in images)
    assert not failed
    assert "bandit-testbed" in title
    assert (tmp_path / "report.png").stat().st_size > 50_000


def test_pairwise_leaves_out_pairs_that_seeds_cannot_separate():
    rows = [("fixed-a", k, 1.0) for k in range(3)] + [("fixed-b", k, 2.0) for k in range(3)]
    rows += [("noisy", k, v) for k, v in enumerate([0.5, 1.5, 2.5])]
    scalars = pd.DataFrame(rows, columns=["agent", "seed", "value"]).assign(metric="m")
    pw = pairwise_table(scalars, "m", ["fixed-a", "fixed-b", "noisy"])
    pairs = set(zip(pw["a"], pw["b"], strict=True))
    assert ("fixed-a", "fixed-b") not in pairs and ("fixed-b", "fixed-a") not in pairs
    assert {("noisy", "fixed-a"), ("fixed-b", "noisy")} <= pairs and len(pairs) == 4
    one_seed = scalars[scalars["seed"] == 0]
    assert pairwise_table(one_seed, "m", ["fixed-a", "fixed-b", "noisy"]).empty
