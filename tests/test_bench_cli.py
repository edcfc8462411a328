"""``posetraj bench`` end to end through the real command-line entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from benchmark.synthetic_clips import build_synthetic_suite
from posetraj.commands.main import main


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return build_synthetic_suite(tmp_path_factory.mktemp("cli"), 2)


def test_run_and_leaderboard(suite, tmp_path, capsys):
    for model in ("static", "oracle"):
        rc = main(["bench", "run", "--suite", str(suite.path), "--model", model, "--out", str(tmp_path / model),
                   "--tracker", "lk", "--tracker-option", "window_px=9", "--no-progress", "--json"])
        assert rc == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["model"]["name"] == model and summary["tracker"]["settings"]["window_px"] == 9
    assert main(["bench", "leaderboard", str(tmp_path / "static"), str(tmp_path / "oracle"),
                 "--out", str(tmp_path / "board")]) == 0
    assert "leaderboard:" in capsys.readouterr().out
    assert (tmp_path / "board" / "index.html").is_file() and (tmp_path / "board" / "leaderboard.md").is_file()


def test_a_label_names_the_model_in_results_and_on_the_leaderboard(suite, tmp_path, capsys, monkeypatch):
    """``--label`` replaces the adapter's own name (e.g. ``module:function``) in the results, in the default
    results folder and on the leaderboard; the adapter's identity is kept."""
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "run", "--suite", str(suite.path), "--model", "static", "--label", "my-model",
                 "--tracker", "lk", "--no-progress", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"]["name"] == "my-model" and "baseline:static" in json.dumps(summary["model"]["identity"])
    assert (tmp_path / "results" / "my-model" / "summary.json").is_file()
    assert main(["bench", "leaderboard", str(tmp_path / "results" / "my-model"), "--out", str(tmp_path / "board")]) == 0
    page = (tmp_path / "board" / "leaderboard.md").read_text()
    assert "my-model" in page and "| static" not in page


def test_errors_are_one_line_with_status(suite, tmp_path, capsys):
    assert main(["bench", "run", "--suite", str(tmp_path / "nope"), "--model", "static",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a benchmark suite" in err[0]
    assert main(["bench", "run", "--suite", str(suite.path), "--model", "missing_module:fn",
                 "--out", str(tmp_path / "r")]) == 2
    assert "cannot import module 'missing_module'" in capsys.readouterr().err
    empty = tmp_path / "videos"
    empty.mkdir()
    rc = main(["bench", "run", "--suite", str(suite.path), "--model", str(empty), "--out", str(tmp_path / "r"),
               "--tracker-option", "window_px=9", "--no-progress"])
    assert rc == 1  # results are written, the failed samples are reported
    assert capsys.readouterr().err.count("no generated video") == 2
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["num_failed"] == 2


def test_build_custom_suite(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(src / "a.png")
    (src / "a.json").write_text(json.dumps({"0": [[10 + t, 20] for t in range(8)]}))
    assert main(["bench", "build-suite", "--kind", "custom", "--source", str(src), "--out", str(tmp_path / "s"),
                 "--frames", "8"]) == 0
    assert "1 samples" in capsys.readouterr().out
    assert main(["bench", "build-suite", "--kind", "custom", "--out", str(tmp_path / "t")]) == 2
    assert "needs --source" in capsys.readouterr().err
