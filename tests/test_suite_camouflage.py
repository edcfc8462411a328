"""posetraj-synth suites draw a sample again while its object is camouflaged against the floor in its first
frame (benchmark.suite_build.build_synth_suite, ``min_separability``): the most separable draw is kept, the
others are listed with their separability, and the same config gives the same suite."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.blender, pytest.mark.slow]


def _family(clip_id: str) -> str:
    return clip_id.rsplit("_s", 1)[0]  # asset_family, shared by the draws of one slot


def test_every_draw_camouflaged_keeps_the_most_separable_and_lists_the_others(tmp_path, monkeypatch):
    pytest.importorskip("bpy")
    from benchmark import suite_build
    from benchmark.suite_build import SynthSuiteConfig, build_synth_suite, clip_separability

    monkeypatch.setattr(suite_build, "CAMOUFLAGE_REDRAWS", 1)
    # a separability above 1 can never be reached: each slot is drawn twice and the better draw kept
    config = SynthSuiteConfig(num_samples=2, seed=4417, width=96, height=64, num_frames=4, samples_per_pixel=2,
                              min_separability=1.01, name="camouflage-test")
    suite = build_synth_suite(tmp_path / "suite", config, render_root=tmp_path / "renders")
    built = suite.manifest["build_config"]
    kept, dropped = built["separability"], built["camouflaged_draws"]
    assert list(kept) == built["clip_ids"] and len(dropped) == 2
    assert not set(kept) & set(dropped)
    for clip_id, value in kept.items():
        assert value == pytest.approx(clip_separability(tmp_path / "renders" / clip_id), abs=1e-4)
        others = [v for k, v in dropped.items() if _family(k) == _family(clip_id)]
        assert len(others) == 1 and value >= others[0]
    for clip_id, value in dropped.items():
        assert 0.0 <= value == pytest.approx(clip_separability(tmp_path / "renders" / clip_id), abs=1e-4)
    # deterministic: the same config picks the same clips (rendered ones are reused)
    again = build_synth_suite(tmp_path / "again", config, render_root=tmp_path / "renders")
    assert again.manifest["build_config"]["clip_ids"] == built["clip_ids"]


def test_a_draw_at_the_threshold_is_kept_and_one_below_it_is_drawn_again(tmp_path, monkeypatch):
    pytest.importorskip("bpy")
    from dataclasses import replace

    from benchmark import suite_build
    from benchmark.suite_build import SynthSuiteConfig, build_synth_suite

    monkeypatch.setattr(suite_build, "CAMOUFLAGE_REDRAWS", 1)
    renders = tmp_path / "renders"
    config = SynthSuiteConfig(num_samples=1, seed=4417, width=96, height=64, num_frames=4, samples_per_pixel=2,
                              min_separability=0.0, name="camouflage-threshold")
    off = build_synth_suite(tmp_path / "off", config, render_root=renders).manifest["build_config"]
    assert off["camouflaged_draws"] == {} and len(list(renders.glob("*_s*"))) == 1  # never drawn again
    (first, value), = off["separability"].items()
    at = build_synth_suite(tmp_path / "at", replace(config, min_separability=value), render_root=renders)
    assert at.manifest["build_config"]["clip_ids"] == [first] and at.manifest["build_config"]["camouflaged_draws"] == {}
    above = build_synth_suite(tmp_path / "above", replace(config, min_separability=value + 1e-3),
                              render_root=renders).manifest["build_config"]
    assert len(list(renders.glob("*_s*"))) == 2  # the second draw was rendered
    (kept, kept_value), = above["separability"].items()
    (dropped, dropped_value), = above["camouflaged_draws"].items()
    assert above["clip_ids"] == [kept] and first in (kept, dropped) and kept != dropped
    assert kept_value >= dropped_value
