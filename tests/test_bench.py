"""The benchmark's plumbing on tiny sizes (its timings are measured by python -m bench, not here)."""

import contextlib
import io
import json

import jax
import numpy as np
import pytest
import torch

from bench import peers
from bench.exact_grid import exact_resolution, lattice
from bench.run import HEADLINE, SMOKE
from bench.task import SETTINGS, shared_task
from bench.torch_mlp import from_unit_box, to_torch, to_unit_box, unit_box_model


@pytest.fixture(scope="module")
def small():
    return shared_task(n=40, steps=30)


def test_torch_copy_computes_the_flax_logits(small):
    x = jax.random.uniform(jax.random.key(3), (2000, 2), minval=-1.5, maxval=1.5)
    want = np.asarray(small.logits_fn(x))
    net = to_torch(small.logits_fn)
    got = net(torch.from_numpy(np.array(x))).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # the unit-box wrapper the clamping peers attack is the same function of the plane
    z = torch.from_numpy(to_unit_box(np.asarray(x)).reshape(-1, 1, 1, 2))
    np.testing.assert_allclose(unit_box_model(net)(z).detach().numpy(), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(from_unit_box(to_unit_box(np.asarray(x))), x, atol=1e-6)
    assert to_unit_box(np.asarray(x)).min() > 0 and to_unit_box(np.asarray(x)).max() < 1


@pytest.mark.parametrize("setting", SETTINGS, ids=[s.name for s in SETTINGS])
def test_lattice_covers_the_ball_at_the_exact_resolution(setting):
    h = exact_resolution(setting.eps)
    d = lattice(setting.norm, setting.eps, h)
    k = int(setting.eps / h + 1e-9)
    norms = np.abs(d).max(1) if setting.norm == "inf" else np.hypot(d[:, 0], d[:, 1])
    assert norms.max() <= setting.eps + 1e-6
    assert (np.abs(d) < 1e-9).all(1).any()                      # delta = 0 is on it
    if setting.norm == "inf":
        assert len(d) == (2 * k + 1) ** 2
    else:  # the disc holds about pi/4 of the square's lattice points
        assert abs(len(d) / (2 * k + 1) ** 2 - np.pi / 4) < 0.01
    steps = np.diff(np.unique(d[:, 0]))
    np.testing.assert_allclose(steps, h, rtol=1e-4)


@pytest.fixture(scope="module")
def smoke_json():
    from bench.__main__ import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--smoke", "--json"]) == 0
    return json.loads(out.getvalue())


def test_smoke_run_reports_every_headline_figure(smoke_json):
    r = smoke_json
    assert r["budget"] == "smoke" and r["matmul_peak_gflops"] > 0
    names = [s.name for s in SMOKE.settings]
    for key in HEADLINE:
        assert sorted(r[key]) == sorted(names), key
    for name in names:
        s = r["settings"][name]
        for method in ("exact", "torch_grid", "uap", "uap_single", "pgd", "pgd_restarts"):
            assert s[method]["median_s"] > 0 and s[method]["runs"] >= 1, method
        assert 0 < s["exact"]["universal"] <= s["exact"]["pointwise"] <= 1
        assert s["exact"]["random"] <= s["exact"]["universal"]
        assert r["exact_vs_torch_grid_speedup"][name] > 0
        assert r["uap_over_exact"][name] == pytest.approx(
            s["uap"]["fooling"] / s["exact"]["universal"])
        assert s["uap_single"]["restarts"] == 1 and s["uap"]["restarts"] >= 1
        # the brute force searched a lattice at the exact resolution: never far above the exact value
        assert s["torch_grid"]["universal"] <= s["exact"]["universal"] + 0.05
        for peer, key in (("art", "art_uap"), ("torchattacks", "torchattacks_pgd")):
            if peers.installed(peer):
                assert s[key]["median_s"] > 0
            else:
                assert s[key]["status"] == "not installed"
        if peers.installed("art"):  # ART's passes were seen inside its timed runs
            t, art = s["time_to_art_rate"], s["art_uap"]
            assert t["rate"] == art["fooling"] and t["art"]["of_passes"] == art["passes"]
            assert t["art"]["fooling_by_pass"][-1] == art["fooling"]
            assert 0 < t["art"]["median_s"] <= art["max_s"]
    assert r["hot_paths"]["grid"]["gflops"] > 0
    assert {g["goal"] for g in r["goals"]} >= {
        "universal algorithm reaches the exact optimum (default)",
        "universal algorithm reaches the exact optimum (1 restart, as timed against ART)",
        "exact optimum vs brute-force torch grid (speedup)"}
    assert all(g["met"] in (True, False, None) for g in r["goals"])


def test_missing_peers_give_null_ratios_and_say_so(small, monkeypatch, smoke_json):
    from bench.report import markdown
    from bench.toy import ToyBudget, compare_setting

    monkeypatch.setattr(peers, "installed", lambda peer: False)
    budget = ToyBudget(repeats=1, slow_repeats=1, slow_warmup=0, uap_passes=1, art_passes=1,
                       grid_stride=512, pgd_steps=4, ceiling_restarts=2)
    s = compare_setting(small, SMOKE.settings[0], budget)
    assert s["art_uap"]["status"] == s["torchattacks_pgd"]["status"] == "not installed"
    assert s["ratios"]["uap_vs_art_speedup"] is None
    assert s["ratios"]["pgd_vs_torchattacks_time_ratio"] is None
    assert s["ratios"]["uap_over_exact"] > 0
    report = dict(smoke_json, settings={SMOKE.settings[0].name: s})
    text = markdown(report)
    assert "| not installed |" in text and "not measured" in text


def test_render_redraws_a_saved_run_and_rejects_other_files(smoke_json, tmp_path, capsys):
    from bench.__main__ import main

    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(smoke_json))
    table = tmp_path / "table.md"
    assert main(["--render", str(saved), "--markdown", str(table)]) == 0
    out = capsys.readouterr().out
    assert out.strip() == table.read_text().strip()
    assert "## Goals" in out and smoke_json["machine"]["date"] in out
    other = tmp_path / "other.json"
    other.write_text("[1, 2]")
    assert main(["--render", str(other)]) == 2
    assert main(["--skip", "nothing"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("python -m bench: error:") for line in err)


def test_profile_kinds_group_xla_thunks():
    from bench.profile_imagenet import kind_of

    assert kind_of("ynn_fusion.68").startswith("matmul")
    assert kind_of("clamp_pad_fusion.14") == "elementwise loop: clamp_pad_fusion"
    assert kind_of("convolution.3").startswith("dense convolution")
    assert kind_of("ThunkExecutor::Execute") is None and kind_of("$api.py:2479 block") is None


def test_smoke_run_times_the_certified_brackets(smoke_json):
    r = smoke_json
    for name in [s.name for s in SMOKE.settings]:
        c = r["certified"][name]
        for key in ("universal", "pointwise", "random"):
            assert c[key]["median_s"] > 0 and c[key]["lo"] <= c[key]["hi"], key
        assert c["universal"]["exact_to_the_point"] and c["pointwise"]["exact_to_the_point"]
        assert c["random"]["width"] <= 0.005 + 1e-12
        # the exact search's delta is a witness: never above the certified upper end
        assert r["settings"][name]["exact"]["universal"] <= c["universal"]["hi"] + 1e-6
        assert c["curve"]["radii"] == SMOKE.certified_radii and c["curve"]["median_s"] > 0
    goals = {g["goal"] for g in r["goals"]}
    assert "certified universal optimum of 40 points, warm" in goals
    assert any(g.startswith("certified curve over") for g in goals)


def test_time_to_rate_is_the_end_of_the_first_pass_reaching_it():
    from bench.measure import time_to_rate

    seconds, rates = [1.8, 3.6, 5.4, 7.2], [0.10, 0.25, 0.17, 0.25]  # ART oscillates
    assert time_to_rate(seconds, rates, 0.25) == (2, 3.6)   # not its last pass reaching it
    assert time_to_rate(seconds, rates, 0.17) == (2, 3.6)
    assert time_to_rate(seconds, rates, 0.05) == (1, 1.8)
    assert time_to_rate(seconds, rates, 0.3) is None


def _time_to_rate_goal(speedup, missing=False):
    from bench.goal_rules import Scope, evaluate
    from bench.goals import SETTING_RULES

    art = {"median_s": 3.6, "passes": 2, "of_passes": 10, "runs": 3}
    uap = {"median_s": 3.6 / speedup if speedup else None, "passes": 1}
    figure = ({"status": "not installed"} if missing else
              {"rate": 0.25, "art": art, "uap": uap, "speedup": speedup})
    entry = {"time_to_art_rate": figure, "ratios": {"uap_vs_art_time_to_rate_speedup": speedup},
             "uap_at_art_passes": {"batch_size": 16}}
    rule = [r for r in SETTING_RULES if "final fooling rate" in str(r.goal)]
    return evaluate(tuple(rule), Scope({"task": {"points": 1000}}, "linf 0.1", entry))[0]


def test_the_time_to_rate_goal_is_1000x_and_a_miss_names_its_bound():
    met = _time_to_rate_goal(1500.0)
    assert met.met is True and met.target == ">= 1000" and "bounds" not in met.note
    assert "ART 3.6 s (end of its pass 2" in met.note and "at 1 pass" in met.note
    missed = _time_to_rate_goal(400.0)
    assert missed.met is False and "ours stops at the first update that reaches it" in missed.note
    assert "(mini-batches of 16 points, each followed by the fooling rate of all 1000)" in missed.note
    assert "ART's 2 passes against those updates bound the ratio" in missed.note
    gone = _time_to_rate_goal(None, missing=True)
    assert gone.met is None and gone.note == "ART not installed"
