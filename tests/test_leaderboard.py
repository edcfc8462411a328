"""Leaderboard files from real harness results on a small synthetic suite, and the page in a real
headless Chromium: its sorting, the rank column, the marked best values, n and 95% intervals per cell,
the run information, the legends and a preview for every sample."""

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
    paths = write_leaderboard(results, root / "board", title="test board")
    return suite, paths


def test_markdown_table_has_every_model_and_provenance(board):
    suite, paths = board
    text = paths["markdown"].read_text()
    lines = [l for l in text.splitlines() if l.startswith("| ")]
    assert len(lines) == 1 + len(MODELS)
    assert lines[0].startswith("| Rank | Model |") and "Rot err ° vs 3D (rotational)" in lines[0]
    for model, line in zip(MODELS, lines[1:]):
        assert f"| {model} |" in line
        assert suite.version in line and "lk (no weights)" in line and f"baseline:{model}" in line
        assert "(n=2)" in line and " [" in line  # sample counts and 95% intervals
    assert lines[1].startswith("| 1 | oracle |") and "**" in lines[1]  # the oracle ranks first, with best values
    assert "Ranked by Rot err ° vs 3D (rotational)" in text and "Code version: 0.1.0" in text and "Run date: " in text


def test_console_summary_has_the_page_columns(board):
    from benchmark.leaderboard import COLUMNS, load_results, summary_table

    results = board[1]["html"].parent.parent / "results"
    lines = summary_table([load_results(results / m) for m in MODELS])
    page = board[1]["html"].read_text()
    for column in COLUMNS[:9]:
        assert column.label in lines[0] and f">{column.label}</th>" in page
    assert lines[1].split()[:2] == ["1", "oracle"] and len(lines) == 1 + len(MODELS)


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
    # a preview of every sample for every model, and a legend beside each pair of plots
    assert sum(tag == "img" for tag, _ in parser.tags) == 2 * len(MODELS)
    assert page.count('class="legend"') == 2 and "rotation travelled" in page


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

    def result_dom(html_file) -> str:
        return subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             "--dump-dom", html_file.as_uri()],
            capture_output=True, text=True, timeout=120, check=True).stdout

    def order(html_file) -> list[str]:
        result = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             "--dump-dom", html_file.as_uri()],
            capture_output=True, text=True, timeout=120, check=True)
        table = result.stdout.split('id="leaderboard"', 1)[1].split("</table>", 1)[0]
        return re.findall(r'<tr><td data-value="([^"]+)"', table), table

    before, table = order(paths["html"])
    assert before == list(MODELS)
    # the rank column, the best value of each column marked, n and the interval under every value
    ranks = re.findall(r'<td data-value="(\d*)" class="rank">', table)
    assert ranks[0] == "1" and sorted(ranks) == ["1", "2", "3"]
    best = re.findall(r'data-col="([^"]+)" class="best"', table)
    assert "rotation_error_deg@rotational" in best and "objmc@overall" in best
    assert table.count('<span class="ci">') >= 3 * 8 and "n=2" in table
    info = result_dom(paths["html"]).split('id="run-info"', 1)[1].split("</dl>", 1)[0]
    for label in ("Suite", "Tracker", "Code version", "Run date"):
        assert f"<dt>{label}</dt>" in info
    after, table = order(probe)
    # two clicks: ascending, then descending ObjMC -> static (worst) first, oracle (0) last
    assert after == ["static", "translate", "oracle"]
    assert 'data-key="objmc" data-group="overall" title="lower is better" aria-sort="descending"' in table


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
    assert 'src="media/' not in mixed["html"].read_text()
    assert "not comparable" in mixed["html"].read_text()


def test_old_results_are_refused_with_a_clear_message(board, tmp_path):
    import json

    results = board[1]["html"].parent.parent / "results"
    old = tmp_path / "old"
    shutil.copytree(results / "oracle", old)
    summary = json.loads((old / "summary.json").read_text())
    summary["schema_version"] = 1
    (old / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(LeaderboardError, match="schema version 1.*score the model again"):
        write_leaderboard([old], tmp_path / "b")
