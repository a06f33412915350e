"""The ImageNet-against-ART stage of python -m bench: its plumbing, table and goals.

ART is an optional peer (requirements-bench.txt), absent from the test install: the
stage itself is not run here (it takes minutes); its not-installed path, its budget
and stage name, its helpers, its rendering and its goals are, and, where ART is
installed, the two pieces that read ART (the pass-by-pass recorder and the DeepFool
step check) on tiny torch models.
"""

import numpy as np
import pytest
import torch

from bench import peers
from bench.goals import imagenet_art_goals
from bench.imagenet_art import (ArtBudget, check_inputs, common_target, first_reaching, from_art,
                                measure_imagenet_art, padded, to_art)
from bench.report import imagenet_art_lines
from bench.run import FULL, QUICK, SMOKE, without

needs_art = pytest.mark.skipif(not peers.installed("art"),
                               reason="ART is an optional peer (pip install -r requirements-bench.txt)")


def measured(**changes) -> dict:
    """A measured ``imagenet_vs_art`` entry with round figures (two seeds, three passes)."""
    r = {"status": "measured", "model": "efficientnet-lite0", "evaluator": "the Flax model",
         "norm": "linf", "eps": 10.0, "images": 8, "val": 8, "passes": 3, "seeds": 2,
         "target_rate": 0.8, "speedup": 15.0, "sgd_speedup": 40.0, "speedup_by_seed": [12.0, 18.0],
         "fooling_rate": 0.875, "art_fooling_rate": 0.8125, "sgd_fooling_rate": 1.0,
         "heldout_fooling_rate": 0.25, "art_heldout_fooling_rate": 0.125,
         "sgd_heldout_fooling_rate": 0.5,
         "history": {"art": [[0.5, 0.75, 0.875], [0.5, 0.75]], "deepfool": [[0.625, 0.875], [0.75, 0.875]],
                     "sgd": [[1.0], [1.0]], "art_own": [[0.5, 0.75, 0.875], [0.5, 0.875]]},
         "history_mean": {"art": [0.5, 0.75, 0.8125], "deepfool": [0.6875, 0.875, 0.875],
                          "sgd": [1.0, 1.0, 1.0]},
         "time_to_target_s": {"art": 45.0, "deepfool": 3.0, "sgd": 1.125},
         "passes_to_target": {"art": [3, None], "deepfool": [2, 2], "sgd": [1, 1]},
         "art_torch_share": 0.97, "art_gradients_per_image_pass": 123.4,
         "images_per_s": {"deepfool": 3.5, "sgd": 40.0},
         "defect": {"file": "art/attacks/evasion/deepfool.py", "line": 153, "text": "f_diff = ...",
                    "nb_grads": 10, "checks": [{"step": 0.2, "boundary": 0.1, "ratio": 2.0},
                                               {"step": 0.0, "boundary": None, "ratio": None}],
                    "ratio_median": 2.0, "ratio_range": [2.0, 2.0]}}
    r.update(changes)
    return r


def test_the_stage_has_a_name_to_skip_and_a_budget_per_mode():
    assert FULL.imagenet_art == ArtBudget() and ArtBudget().seeds == 3 and ArtBudget().passes == 5
    assert QUICK.imagenet_art.seeds == 1 and SMOKE.imagenet_art is None
    assert without(FULL, ["imagenet-art"]).imagenet_art is None
    assert without(FULL, ["imagenet"]).imagenet_art == FULL.imagenet_art   # separate stages
    with pytest.raises(ValueError, match="imagenet-art"):
        without(FULL, ["imagenet_art"])


def test_without_art_the_stage_says_not_installed(monkeypatch):
    monkeypatch.setattr(peers, "installed", lambda peer: False)
    r = measure_imagenet_art(ArtBudget(seeds=1, passes=1))
    assert r == {"status": "not installed"}
    text = "\n".join(imagenet_art_lines(r, "not installed"))
    assert "## ImageNet: universal perturbations against ART" in text
    assert "ART not installed: not measured" in text
    g = imagenet_art_goals(r)
    assert len(g) == 3 and all(x.met is None and x.note == "ART not installed" for x in g)
    assert imagenet_art_lines(None, "1.20.1") == [] and imagenet_art_goals(None) == []


def test_the_table_shows_each_side_with_its_figures():
    lines = imagenet_art_lines(measured(), "1.20.1")
    assert "| ART UniversalPerturbation 1.20.1 (DeepFool, ART's defaults) | 45 s | 3/- | "\
           "0.500, 0.750, 0.812 | 0.812 | 0.125 | - |" in lines
    assert "| imagenet.run_universal (deepfool, Algorithm 1) | 3 s | 2/2 | 0.688, 0.875, 0.875 | "\
           "0.875 | 0.25 | ours 15.0x faster |" in lines
    assert "| imagenet.run_universal (sgd) | 1.12 s | 1/1 | 1.000, 1.000, 1.000 | 1 | 0.5 | "\
           "ours 40.0x faster |" in lines
    text = "\n".join(lines)
    assert "2 seeds averaged" in text and "Target rate: 0.8." in text
    assert "97% in torch" in text and "123 class gradients" in text
    assert "`art/attacks/evasion/deepfool.py` line 153" in text
    assert "on 2 training photos" in text and ": 2x (2-2x); 1 of them a zero step" in text
    low = "\n".join(imagenet_art_lines(measured(target_rate=0.625), "1.20.1"))
    assert "Target rate: 0.625, the best rate ART and Algorithm 1 both reach on every seed." in low
    assert "| time to 0.625 |" in low


def test_the_goals_judge_every_pass_the_speedup_and_the_held_out_rate():
    per_pass, speed, held = imagenet_art_goals(measured())
    assert per_pass.met and per_pass.value == pytest.approx(0.0625)
    assert "ours 0.688, 0.875, 0.875; ART 0.500, 0.750, 0.812" in per_pass.note
    assert speed.met and speed.value == 15.0 and "ART 45 s, ours 3 s" in speed.note
    assert held.met and held.target == ">= 0.125"
    # one pass where ART is ahead misses the first goal; 9.9x misses the second
    behind = measured(history_mean={"art": [0.5, 0.875, 0.875], "deepfool": [0.6875, 0.75, 0.875],
                                    "sgd": [1.0] * 3}, speedup=9.9, heldout_fooling_rate=0.0)
    per_pass, speed, held = imagenet_art_goals(behind)
    assert per_pass.met is False and per_pass.value == pytest.approx(-0.125)
    assert speed.met is False and held.met is False and held.status() == "**MISSED**"


def test_targets_and_histories():
    assert first_reaching([0.5, 0.8, 0.9], 0.8) == 2 and first_reaching([0.5], 0.8) is None
    assert padded([0.5, 0.9], 4) == [0.5, 0.9, 0.9, 0.9]
    assert common_target({"art": [0.9, 0.8], "deepfool": [1.0, 0.875]}) == 0.8
    assert common_target({"art": [0.9, 0.625], "deepfool": [1.0, 0.875]}) == 0.625


def test_art_sees_the_project_pixels_over_255_channels_first():
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 5, 4, 3)).astype(np.float32)
    x01 = to_art(pixels)
    assert x01.shape == (2, 3, 5, 4) and x01.dtype == np.float32 and x01.flags.c_contiguous
    assert 0 <= x01.min() and x01.max() <= 1
    np.testing.assert_allclose(x01[1, 2, 4, 3], pixels[1, 4, 3, 2] / 255, rtol=1e-6)
    np.testing.assert_allclose(from_art(x01[0]), pixels[0], rtol=1e-5)
    with pytest.raises(ValueError, match="not the runner's photos"):
        check_inputs(None, None, pixels + 0.01, x01)


# ----------------------------------------------------------------------------- with ART


def centred_linear(biases, shape=(1, 4, 4), seed=0) -> torch.nn.Module:
    """A linear classifier whose logits at the grey image (0.5 everywhere) are ``biases``."""
    torch.manual_seed(seed)
    d = int(np.prod(shape))
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(d, len(biases)))
    with torch.no_grad():
        net[1].weight.mul_(10.0)
        net[1].bias.copy_(torch.tensor(biases, dtype=torch.float32) - net[1].weight.sum(1) * 0.5)
    return net.eval()


@needs_art
def test_art_deepfool_check_finds_the_defect_on_a_linear_model():
    from bench.art_imagenet import deepfool_step_ratio, defect_line

    grey = np.full((1, 4, 4), 0.5, np.float32)
    biases = [-3.0] * 9 + [-8.0] + [0.0] * 8 + [1.0, 2.0]   # label 19, its position in the top 10 is 9
    net = centred_linear(biases)
    right = deepfool_step_ratio(net, grey, 20, nb_grads=20)   # all classes: ART's correct branch
    assert right["ratio"] == pytest.approx(1.0, abs=1e-3)
    wrong = deepfool_step_ratio(net, grey, 20, nb_grads=10)   # measures the gap to class 9, not 19
    assert wrong["ratio"] > 2
    # label 17 at position 7 of {5..9, 15..19}: class 7's own gap is 0, the step is 0
    biases = [-3.0] * 5 + [0.0] * 5 + [-3.0] * 5 + [0.0, 1.0, 2.0, 0.0, 0.0]
    stalled = deepfool_step_ratio(centred_linear(biases), grey, 20, nb_grads=10)
    assert stalled["step"] == 0 and stalled["ratio"] is None
    line = defect_line()
    assert line["file"] == "art/attacks/evasion/deepfool.py" and "labels_indices]" in line["text"]
    if peers.peer_version("art") == "1.20.1":
        assert line["line"] == 153


@needs_art
def test_art_pass_recorder_matches_shorter_runs():
    from bench.art_imagenet import art_universal, classifier

    net = centred_linear([0.0, 0.5, 1.0, 0.2, 0.7], seed=1)
    x = np.random.default_rng(1).uniform(0.3, 0.7, (4, 1, 4, 4)).astype(np.float32)
    long = art_universal(classifier(net, (1, 4, 4), 5, recording=True), x, eps=0.05, passes=2,
                         seed=4, delta=0.0)
    assert len(long["passes"]) == 2 and long["gradients"] > 0 and 0 < long["torch_s"] <= long["wall_s"]
    assert [p["s"] for p in long["passes"]] == sorted(p["s"] for p in long["passes"])
    np.testing.assert_array_equal(long["passes"][-1]["noise"], long["noise"])
    assert long["passes"][-1]["own_rate"] == long["own_fooling_rate"]
    short = art_universal(classifier(net, (1, 4, 4), 5, recording=True), x, eps=0.05, passes=1,
                          seed=4, delta=0.0)
    np.testing.assert_array_equal(long["passes"][0]["noise"], short["noise"])
    assert np.abs(long["noise"]).max() > 0


# --- python -m bench.imagenet_art_seeds: per-seed records, their table, resume ------------

def _seed_record(seed, art_history, art_times, ours_history, ours_s, images=32):
    from bench.imagenet_art_seeds import TARGET
    k = first_reaching(art_history, TARGET)
    reached = first_reaching(ours_history, TARGET) is not None
    return {"images": images, "seed": seed,
            "art": {"history": art_history, "times_s": art_times, "heldout": 0.25,
                    "to_target_s": art_times[k - 1] if k else None},
            "deepfool": {"history": ours_history, "wall_s": ours_s, "heldout": 0.5,
                         "to_target_s": ours_s if reached else None},
            "sgd": {"history": [1.0], "wall_s": 1.0, "heldout": 0.75, "to_target_s": 1.0}}


def test_seed_table_says_each_seed_and_the_geometric_mean_of_the_ratios():
    from bench.imagenet_art_seeds import table

    rows = [_seed_record(1, [0.5, 0.9], [50.0, 80.0], [0.85], 10.0),     # ratio 8
            _seed_record(0, [0.85], [20.0], [0.9], 10.0),                # ratio 2
            _seed_record(2, [0.5, 0.6, 0.7], [50.0, 90.0, 120.0], [0.9], 4.0)]  # ART misses
    lines = table(rows).splitlines()
    assert lines[2].startswith("| 32 | 0 | 0.850 | 0.900 | 20.0 s (pass 1) | 10.00 s (pass 1) | 2.0x |")
    assert lines[3].startswith("| 32 | 1 | 0.500 | 0.850 | 80.0 s (pass 2) | 10.00 s (pass 1) | 8.0x |")
    assert "| not in 3 passes | 4.00 s (pass 1) | - | 0.250, 0.500, 0.750 |" in lines[4]
    assert lines[-1] == "Geometric mean of the ratios over 2 of 3 seeds: 4.0x"


def test_seeds_already_recorded_are_not_run_again(tmp_path):
    from bench.imagenet_art_seeds import _seeds, measure_seeds
    from store import write_json

    out = tmp_path / "seeds.json"
    rows = [_seed_record(0, [0.85], [20.0], [0.9], 10.0), _seed_record(1, [0.85], [9.0], [0.9], 3.0)]
    write_json(out, rows)
    # every asked seed is in the file: nothing is loaded or measured, the records come back
    assert measure_seeds(32, _seeds("0-1"), passes=3, out=str(out)) == rows
    assert _seeds("0-5") == [0, 1, 2, 3, 4, 5] and _seeds("3,7") == [3, 7]


def test_a_bad_seed_list_is_one_line_and_exit_2(capsys, tmp_path):
    from bench.imagenet_art_seeds import main

    assert main(["--seeds", "a-b", "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "write seeds as FIRST-LAST or A,B,...: 'a-b'" in err and err.count("\n") == 1
    assert not (tmp_path / "x.json").exists()
