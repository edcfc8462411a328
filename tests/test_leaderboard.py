"""Leaderboard files from real harness results on a small synthetic suite, and the page's sorting
in a real headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from benchmark.harness import RunConfig, run_benchmark
from benchmark.leaderboard import LeaderboardError, write_leaderboard
from benchmark.synthetic_clips import build_synthetic_suite
from benchmark.trackers import create_tracker

MODELS = ("oracle", "static", "translate")


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("board")
    suite = build_synthetic_suite(root, 2)
    tracker = create_tracker("lk", window_px=9)
    results = []
    for model in MODELS:
        run_benchmark(RunConfig(suite=suite.path, model=model, out=root / "results" / model, progress=False),
                      tracker=tracker)
        results.append(root / "results" / model)
    paths = write_leaderboard(results, root / "board", title="test board", max_previews=2)
    return suite, paths


def test_markdown_table_has_every_model_and_provenance(board):
    suite, paths = board
    text = paths["markdown"].read_text()
    lines = [l for l in text.splitlines() if l.startswith("| ")]
    assert len(lines) == 1 + len(MODELS)
    for model, line in zip(MODELS, lines[1:]):
        assert line.startswith(f"| {model} |")
        assert suite.version in line and "lk (no weights)" in line and f"baseline:{model}" in line


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_html_page_is_self_contained(board):
    _, paths = board
    page = paths["html"].read_text()
    parser = _Collector()
    parser.feed(page)
    for tag, attrs in parser.tags:
        assert not (tag == "script" and "src" in attrs), "no external scripts"
        assert tag != "link", "no external style sheets"
        if tag == "img":
            assert (paths["html"].parent / attrs["src"]).is_file()
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    assert page.count("<svg") == 4 and "<circle" in page and page.count("<polyline") == 2 * len(MODELS)
    assert "Per-family breakdown" in page and ">line<" in page and ">synthetic_turn<" in page
    assert sum(tag == "img" for tag, _ in parser.tags) == 2 * len(MODELS)


def test_leaderboard_refuses_missing_results(tmp_path):
    with pytest.raises(LeaderboardError, match="no summary.json"):
        write_leaderboard([tmp_path], tmp_path / "out")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_sorting_by_clicking_a_header_in_headless_chromium(board, tmp_path):
    _, paths = board
    page = paths["html"].read_text()
    clicks = "".join("document.querySelector('#leaderboard th[data-key=\"objmc\"]').click();" for _ in range(2))
    probe = paths["html"].parent / "click_probe.html"
    probe.write_text(page.replace("</body>", f"<script>{clicks}</script></body>"))

    def order(html_file) -> list[str]:
        result = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             "--dump-dom", html_file.as_uri()],
            capture_output=True, text=True, timeout=120, check=True)
        table = result.stdout.split('id="leaderboard"', 1)[1].split("</table>", 1)[0]
        return re.findall(r'<tr><td data-value="([^"]+)"', table), table

    before, _ = order(paths["html"])
    assert before == list(MODELS)
    after, table = order(probe)
    # two clicks: ascending, then descending ObjMC -> static (worst) first, oracle (0) last
    assert after == ["static", "translate", "oracle"]
    assert 'data-key="objmc" title="lower is better" aria-sort="descending"' in table


def test_mixed_suites_are_flagged(board, tmp_path):
    import json

    _, paths = board
    results = paths["html"].parent.parent / "results"
    assert 'class="warn"' not in paths["html"].read_text()
    other = tmp_path / "other"
    shutil.copytree(results / "static", other)
    summary = json.loads((other / "summary.json").read_text())
    summary["suite"]["suite_version"] = "another-suite@000000000000"
    (other / "summary.json").write_text(json.dumps(summary))
    mixed = write_leaderboard([results / "oracle", other], tmp_path / "board", max_previews=0)
    assert "not comparable" in mixed["html"].read_text()
