"""The pose metric on clips of our Blender renderer: the oracle comes within 5 degrees of the true 3D
rotation on the turning samples and so does a perturbed oracle (noise sigma 3, a 3x3 blur, H.264 re-encoding;
a folder of pre-generated videos, so nothing can recognise the reference video), while static and
translate, which never turn the object, stay above 30 degrees. A small suite at the default size (192x128), 32 frames;
bench/pose_accuracy.py runs the same on full suites (docs/benchmark.md)."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.blender, pytest.mark.slow]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    pytest.importorskip("bpy")
    from benchmark.harness import RunConfig, run_benchmark
    from benchmark.perturb import write_perturbed_oracle
    from benchmark.suite_build import SynthSuiteConfig, build_synth_suite

    root = tmp_path_factory.mktemp("pose_rendered")
    config = SynthSuiteConfig(num_samples=3, seed=7703, num_frames=32, control_share=1 / 3,
                              rotational_families=("half_circle", "s_curve"), name="pose-metric-test")
    suite = build_synth_suite(root / "suite", config, render_root=root / "renders")
    perturbed = write_perturbed_oracle(suite, root / "perturbed")
    summaries = {}
    for name, model in (("oracle", "oracle"), ("perturbed", str(perturbed)), ("static", "static"),
                        ("translate", "translate")):
        summaries[name] = run_benchmark(RunConfig(suite=suite.path, model=model, out=root / "results" / name,
                                                  cache_dir=root / "cache", progress=False))
    return suite, summaries, root


def test_oracle_and_perturbed_oracle_within_5_degrees_of_the_true_rotation(scored):
    suite, summaries, _ = scored
    assert [s.family for s in suite.samples] == ["half_circle", "s_curve", "line"]
    rot = {m: s["metrics"]["groups"]["rotational"] for m, s in summaries.items()}
    # the aim, 5 degrees for both (measured here: 1.7 and 2.6 at f680caa, docs/benchmark.md;
    # its plane drawn again by the camouflage rule;
    # before the upright prior a perturbed chair of one rendering of this suite was 9.3 degrees, and the bound
    # was 15)
    for model, bound in (("oracle", 5.0), ("perturbed", 5.0)):
        assert summaries[model]["complete"]
        assert rot[model]["rotation_error_deg"] <= bound, (model, rot[model]["rotation_error_deg"])
        assert rot[model]["pose_fail_rate"] == 0.0 and rot[model]["n"]["rotation_error_deg"] == 2
    for model in ("static", "translate"):
        assert rot[model]["rotation_error_deg"] > 30.0, (model, rot[model]["rotation_error_deg"])


def test_the_perturbed_oracle_is_scored_as_a_folder_of_other_videos(scored):
    _, summaries, root = scored
    identity = summaries["perturbed"]["model"]["identity"]
    assert summaries["perturbed"]["model"]["name"] != "oracle" and "folder" in json.dumps(identity)
    # its frames differ from the ground truth (PSNR far below the oracle's 100 dB cap), its trajectories too
    overall = summaries["perturbed"]["metrics"]["groups"]["overall"]
    assert overall["psnr"] < 45.0 and overall["objmc"] >= 0.0
    assert sorted(p.name for p in (root / "perturbed").iterdir())[0].endswith(".mp4")
