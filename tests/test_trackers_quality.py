"""``posetraj bench trackers DATASET`` on clips in our clip format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posetraj.commands.main import main


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from benchmark.synthetic_clips import SyntheticClipConfig, render_synthetic_clip

    root = tmp_path_factory.mktemp("clips")
    for seed in range(2):
        render_synthetic_clip(root, f"box{seed}", SyntheticClipConfig(width=128, height=96, num_frames=8, seed=seed))
    (root / "not_a_clip").mkdir()  # no DONE marker: ignored
    return root


def test_trackers_report_json(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POSETRAJ_COTRACKER3_CHECKPOINT", raising=False)
    monkeypatch.delenv("POSETRAJ_COTRACKER3_ONLINE_CHECKPOINT", raising=False)
    out = tmp_path / "report.json"
    assert main(["bench", "trackers", str(dataset), "--max-points", "40", "--json", "--out", str(out), "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == report
    assert report["schema_version"] == 1 and report["mode"] == "first" and len(report["clips"]) == 2
    assert list(report["trackers"]) == ["lk", "oracle"]
    oracle, lk = report["trackers"]["oracle"]["metrics"], report["trackers"]["lk"]["metrics"]
    assert oracle["aj"] == pytest.approx(1.0) and oracle["oa"] == pytest.approx(1.0)
    assert 0.1 < lk["aj"] < 1.0 and lk["num_points"] == 80
    assert report["trackers"]["lk"]["describe"]["tracker"] == "lk"


def test_trackers_table_and_errors(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POSETRAJ_COTRACKER3_CHECKPOINT", raising=False)
    assert main(["bench", "trackers", str(dataset), "--trackers", "oracle", "--max-points", "10", "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "oracle" in table and "100.00" in table and "AJ" in table
    assert main(["bench", "trackers", str(tmp_path / "missing"), "--no-progress"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["bench", "trackers", str(dataset), "--trackers", "raft", "--no-progress"]) == 2
    assert "unknown tracker(s) raft" in capsys.readouterr().err
    assert main(["bench", "trackers", str(dataset), "--trackers", "cotracker3-offline", "--no-progress"]) == 2
    assert "needs a checkpoint" in capsys.readouterr().err


@pytest.mark.torch
def test_cotracker3_in_the_quality_report(dataset: Path) -> None:
    """The CoTracker3 trackers plug into the evaluation like any other (tiny random-weight model)."""
    pytest.importorskip("torch")
    from benchmark.tracker_quality import QualityConfig, evaluate, format_table, read_dataset

    tiny = {"random_seed": 0, "model_resolution": (32, 32), "iters": 1}
    config = QualityConfig(("cotracker3-offline", "cotracker3-online"), {"cotracker3-offline": tiny, "cotracker3-online": tiny}, max_points=8)
    report = evaluate(read_dataset(dataset), config)
    for name in config.trackers:
        entry = report["trackers"][name]
        assert entry["describe"]["tracker"] == name and entry["describe"]["random_weights_seed"] == 0
        assert 0.0 <= entry["metrics"]["oa"] <= 1.0 and entry["metrics"]["num_points"] == 16
    assert "random" in format_table(report)
