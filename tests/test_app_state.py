"""The app's state and what it reads, without Streamlit: app_pages.urlstate (the URL),
app_pages.reading (sample, profile, fractions at eps), app_pages.estimates and
app_pages.downloads.

Closed-form classifiers (a half-plane) give exact expectations for the readings; the URL
state is checked by round trips.
"""

import io
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from app_pages.downloads import perturbations_npz
from app_pages.estimates import attack_rows, bracket_check
from app_pages.reading import read_at, sample_of_d, scan
from app_pages.texts import EXPLANATIONS, MEASURES, norm_name
from app_pages.urlstate import (OVERLAYS, UPLOAD, ViewState, state_from_query,
                                state_to_query)
from drawing import labels_of, random_deltas
from toymodels import TrainConfig, get_task, load_csv, load_or_train, task_variant, training_set


def _halfplane_logits(x):
    # class 0 below y = 0, class 1 above.
    return jnp.stack([-x[:, 1], x[:, 1]], 1)


HALF = jax.tree_util.Partial(_halfplane_logits)


def _below_the_line(n, deepest):
    """``n`` points of class 0 at depths ``d`` under the half-plane's boundary y = 0."""
    d = np.linspace(0.01, deepest, n, dtype=np.float32)
    return d, np.stack([np.zeros_like(d), -d], 1), np.zeros(n, np.int32)


# --- the URL state ----------------------------------------------------------------------

def test_state_round_trips_through_the_query():
    state = ViewState(dataset="xor", points=300, noise=0.075, width=16, depth=2,
                      activation="tanh", steps=500, seed=7, norm="inf", eps=0.235, tau=0.65,
                      overlays=("balls", "universal"), probe=(0.125, -0.5),
                      delta=(0.0125, -0.2))
    query = state_to_query(state)
    assert query["delta"] == "0.0125,-0.2"
    assert (query["points"], query["noise"]) == ("300", "0.075")
    back, warnings = state_from_query(query)
    assert back == state and warnings == []
    assert "delta" not in state_to_query(ViewState())         # no delta chosen: none linked


@pytest.mark.parametrize("text,why", [
    ("0.1", "a delta is two numbers dx,dy"),
    ("0.1,0.2,0.3", "a delta is two numbers dx,dy"),
    ("0.1,up", "not a number"),
    ("0.5,0", "a delta must lie in [-0.4, 0.4]^2"),
    ("nan,0", "a delta must lie in [-0.4, 0.4]^2"),
])
def test_a_bad_delta_keeps_none_and_says_why(text, why):
    state, warnings = state_from_query({"delta": text})
    assert state.delta is None
    assert warnings == [f"delta={text} ignored: {why} (using none)"]


def test_bad_query_values_keep_defaults_and_say_why():
    state, warnings = state_from_query({
        "dataset": "nope", "width": "65", "depth": "x", "activation": "swish", "steps": "-1",
        "seed": "-3", "norm": "3", "eps": "0", "tau": "1.5", "overlays": "arrows,glitter",
        "probe": "1,2,3", "unknown": "ignored"})
    assert state == ViewState()
    assert len(warnings) == 11
    assert any(w.startswith("dataset=nope ignored: choose one of margins") for w in warnings)
    assert "eps=0 ignored: eps must be in (0, 0.4] (using 0.15)" in warnings
    assert any("unknown overlay 'glitter'" in w for w in warnings)
    assert "probe=1,2,3 ignored: a probe is two numbers x,y (using none)" in warnings


def test_query_values_are_normalised():
    state, warnings = state_from_query({"overlays": "random, arrows,", "eps": ["0.3", "0.12346"],
                                        "probe": "0.5,-1.6", "norm": "linf"})
    assert state.overlays == ("arrows", "random")          # the order of OVERLAYS
    assert state.eps == 0.1235 and state.norm == "inf"      # the last value, rounded
    assert warnings == ["probe=0.5,-1.6 ignored: the probe must lie in [-1.5, 1.5]^2 "
                        "(using none)"]


def test_a_link_from_an_uploaded_csv_says_to_upload_it_again():
    q = state_to_query(ViewState(dataset=UPLOAD))
    assert q["dataset"] == UPLOAD and "probe" not in q
    state, warnings = state_from_query(q)
    assert warnings == ["dataset=csv ignored: an uploaded CSV cannot travel in a link: upload "
                        "it again (using pancakes)"]
    assert state.dataset == "pancakes"


def test_texts_cover_the_four_categories():
    assert set(EXPLANATIONS) == set(MEASURES) == {1, 2, 3, 4}
    for category, fraction in {1: "robust", 2: "pointwise", 3: "universal", 4: "random"}.items():
        assert MEASURES[category].startswith(rf"\mathrm{{{fraction}}}(\varepsilon)")
    assert (norm_name("2"), norm_name("inf")) == ("l2", "l∞")
    assert set(OVERLAYS) == {"arrows", "balls", "universal", "random"}


# --- the model and D ----------------------------------------------------------------------

def test_model_is_trained_once_then_reused_from_the_npz_cache():
    task, config = get_task("margins"), TrainConfig(width=8, depth=1, steps=60, seed=3)
    seen = []
    fresh = load_or_train(task, config, progress=lambda f, loss: seen.append(f))
    assert not fresh.reused and seen[-1] == 1.0 and len(seen) == 10
    again = load_or_train(task, config, progress=lambda f, loss: seen.append(-1))
    assert again.reused and again.config == config and -1 not in seen
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (64, 2)), jnp.float32)
    np.testing.assert_array_equal(fresh.logits_fn(x), again.logits_fn(x))


def test_sample_is_the_reports_sample_and_csv_sets_use_their_points():
    task = get_task("bubbles")
    x, y, _ = sample_of_d(task, 5, n=300)
    k_data, _ = jax.random.split(jax.random.key(5))
    xr, yr = task.sample(k_data, 300)
    np.testing.assert_array_equal(x, np.asarray(xr))
    np.testing.assert_array_equal(y, np.asarray(yr))
    csv = load_csv(io.StringIO("x,y,label\n0,0,a\n1,0,b\n0,1,a\n"), name="t")
    xc, yc, _ = sample_of_d(csv, 0)
    np.testing.assert_array_equal(xc, csv.points[0])
    np.testing.assert_array_equal(yc, [0, 1, 0])


def test_points_and_noise_make_a_seeded_variant_of_d_that_trains_on_twice_its_points():
    xor, pancakes = get_task("xor"), get_task("pancakes")
    assert task_variant(xor, points=1000, noise=0.0) is xor          # the preset's own values
    noisy = task_variant(xor, points=200, noise=0.1)
    assert noisy is task_variant(xor, points=200, noise=0.1)          # one object per variant
    assert (noisy.name, noisy.train_points, noisy.noise) == ("xor-n200-noise0.1", 400, 0.1)
    x, y, _ = sample_of_d(noisy, 4, n=200)
    x2, y2, _ = sample_of_d(noisy, 4, n=200)
    np.testing.assert_array_equal(x, x2)                              # the same seed, same D
    xc, yc, _ = sample_of_d(xor, 4, n=200)
    np.testing.assert_array_equal(y, yc)                              # labels kept ...
    moved = np.linalg.norm(x - xc, axis=1)
    assert 0.05 < np.median(moved) < 0.2 and np.abs(x).max() <= 0.98  # ... points jittered
    key = jax.random.key(0)
    assert len(training_set(noisy, key)[0]) == 400                    # xor trains on D alone
    assert len(training_set(xor, key)[0]) == 2000
    preset = len(training_set(pancakes, key)[0])
    assert len(training_set(task_variant(pancakes, points=50), key)[0]) == preset - 2000 + 100
    with pytest.raises(ValueError, match="points must be at least 1"):
        task_variant(xor, points=0)


# --- readings -------------------------------------------------------------------------------

def test_reading_of_a_halfplane_is_its_closed_form():
    d, x, y = _below_the_line(200, 0.39)
    prof = scan(HALF, x, y, "2")
    rd = read_at(HALF, x, prof, "2", 0.2)
    share = float((d <= 0.2).mean())
    assert rd.fractions["pointwise"] == pytest.approx(share, abs=0.006)
    assert rd.fractions["universal"] == pytest.approx(share, abs=0.006)
    assert rd.fractions["robust"] == pytest.approx(1 - rd.fractions["pointwise"], abs=1e-6)
    assert rd.fractions["random"] <= rd.fractions["universal"] <= rd.fractions["pointwise"]
    # the maximiser points up, far enough to reach the deepest point it must flip
    assert rd.universal_delta[1] >= d[d <= 0.2].max() - 0.003
    assert np.linalg.norm(rd.universal_delta) <= 0.2 + 1e-5


def test_profile_is_kept_on_disk_for_the_same_points_only(tmp_path):
    _, x, y = _below_the_line(40, 0.3)
    path = str(tmp_path / "p.npz")
    first = scan(HALF, x, y, "2", path)
    # a classifier that flips nothing: a reused file must give the half-plane's profile
    never = jax.tree_util.Partial(lambda z: jnp.stack([z[:, 0] * 0 + 1, z[:, 0] * 0], 1))
    again = scan(never, x, y, "2", path)
    np.testing.assert_array_equal(np.asarray(again.rho), np.asarray(first.rho))
    moved = scan(never, x + 0.001, y, "2", path)       # other points: scanned afresh
    assert np.isinf(np.asarray(moved.rho)).all()


# --- attacks against the exact values and the downloads --------------------------------------

def test_attack_rows_measure_the_shortfall():
    rows = attack_rows({"pgd": 0.7, "universal (SGD)": 0.4, "random": 0.1},
                       {"robust": 0.1, "pointwise": 0.9, "universal": 0.5, "random": 0.1})
    assert [(r["estimates"], r["exact"]) for r in rows] == [("pointwise", 0.9),
                                                           ("universal", 0.5), ("random", 0.1)]
    assert rows[0]["short"] == pytest.approx(0.2) and rows[2]["short"] is None
    assert rows[2]["attack"] == "Monte Carlo (64 directions)"


def test_attacks_are_checked_against_the_certified_brackets():
    brackets = {"robust": (0.1, 0.1), "pointwise": (0.9, 0.9), "universal": (0.48, 0.52),
                "random": (0.09, 0.11)}
    rows = attack_rows({"pgd": 0.7, "fgsm": 0.95, "universal (SGD)": 0.5, "random": 0.2,
                        "deepfool": 0.9},
                       {"robust": 0.1, "pointwise": 0.9, "universal": 0.5, "random": 0.1},
                       brackets, random_interval=(0.15, 0.25), counted=200)
    checks = {r["attack"]: r["check"] for r in rows}
    assert checks == {"pgd": "below lo by 40 points", "fgsm": "ABOVE hi by 10 points: a bug",
                      "universal (SGD)": "inside the bracket, 4 points below hi",
                      "deepfool": "optimal: reaches hi (180 of 200 points)",
                      "Monte Carlo (64 directions)":
                          "its 95% interval [0.150, 0.250] misses the bracket"}
    assert rows[0]["bracket"] == "[0.900, 0.900]"
    assert bracket_check(0.3, (0.09, 0.11), statistic=(0.05, 0.095)).endswith("overlaps the bracket")
    with pytest.raises(ValueError, match="counted"):
        bracket_check(0.9, (0.9, 0.9))


@pytest.mark.parametrize("n, k", [(1000, 883), (1000, 800), (997, 883), (523, 419), (2000, 1)])
def test_an_attack_whose_float32_share_equals_hi_is_optimal_not_a_bug(n, k):
    # the attacks' shares are float32 (k / n rounded there, or k * (1 / n) as XLA compiled
    # it), the brackets float64: 883 / 1000 in float32 is 0.88300002 > 0.883, which a share
    # comparison called "ABOVE hi by 0.000: a bug" (pancakes, l-inf, eps 0.09)
    hi = k / n
    for share in (np.float32(k) / np.float32(n), np.float32(k) * (np.float32(1) / np.float32(n))):
        assert bracket_check(share, (hi, hi), counted=n) == f"optimal: reaches hi ({k} of {n} points)"
        assert bracket_check(share, ((k - 3) / n, hi), counted=n).startswith("optimal")
        one_more = np.float32(k + 1) / np.float32(n)
        assert bracket_check(one_more, (hi, hi), counted=n) == "ABOVE hi by 1 point: a bug"
    assert float(np.float32(883) / np.float32(1000)) > 0.883   # the trap, still there


def test_perturbations_npz_round_trips_without_pickle():
    d, x, y = _below_the_line(50, 0.3)
    prof = scan(HALF, x, y, "2")
    rd = read_at(HALF, x, prof, "2", 0.1)
    rnd = random_deltas(jax.random.key(1), 50, "2", 0.1)
    np.testing.assert_allclose(np.linalg.norm(rnd, axis=1), 0.1, rtol=1e-5)
    blob = perturbations_npz(x=x, y=y, pred=labels_of(HALF, x), profile=prof, reading=rd,
                             norm="2", random=rnd, state=ViewState(eps=0.1),
                             task_name="halfplane")
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        np.testing.assert_array_equal(z["x"], x)
        np.testing.assert_allclose(z["rho"], d, atol=2e-3)
        np.testing.assert_array_equal(z["universal_fooled"], d <= 0.1 + 1e-3)
        meta = json.loads(str(z["meta"]))
        assert set(z["curve_pointwise"].shape) == {len(z["radii"])}
        assert sorted(z.files) == sorted(
            ["x", "y", "pred", "rho", "minimal", "universal_delta", "universal_fooled",
             "random_delta", "radii", "curve_robust", "curve_pointwise", "curve_universal",
             "curve_random", "meta"])
    assert meta["task"] == "halfplane" and meta["state"]["eps"] == 0.1
    assert meta["fractions"]["pointwise"] == pytest.approx(rd.fractions["pointwise"])


def test_the_random_game_and_the_download_draw_their_own_deltas_at_200_points():
    """Same model, norm and eps, D of 200 points (the game's pool size): the game's key and
    the download's key give each its own deltas, whichever is drawn first."""
    from app_pages import cached
    from drawing import random_deltas

    key = jax.random.key(3)
    game_key = jax.random.fold_in(key, 11)
    download = cached.random_deltas("model", "2", 0.1, key, 200)
    game = cached.random_deltas("model", "2", 0.1, game_key, 200)
    np.testing.assert_array_equal(download, random_deltas(key, 200, "2", 0.1))
    np.testing.assert_array_equal(game, random_deltas(game_key, 200, "2", 0.1))
    assert not np.allclose(game, download)
    # and the cache still answers a repeated draw with the same array
    assert cached.random_deltas("model", "2", 0.1, key, 200) is download


def test_every_session_key_the_pages_use_is_declared_once_with_its_owner():
    """app_pages.session declares the session state: each literal key the pages read or
    write (``st.session_state[...]``, ``.get``/``.pop``/``.setdefault``, ``session[...]``,
    a widget's ``key=``) is a ViewState field (the sidebar's widgets) or declared there, and
    only its owner writes it by subscript."""
    import pathlib
    import re

    from app_pages.session import KEYS
    from app_pages.urlstate import FIELDS

    root = pathlib.Path(__file__).resolve().parents[1] / "app_pages"
    used = re.compile(r"""(?:session_state|session)(?:\.(?:get|pop|setdefault))?\(?\[?\s*["']([A-Za-z_0-9]+)["']"""
                      r"""|\bkey\s*=\s*["']([A-Za-z_0-9]+)["']""")
    written = re.compile(r"""(?:session_state|session)\[\s*["']([A-Za-z_0-9]+)["']\s*\]\s*(?:,[^=\n]*)?=(?!=)""")
    undeclared, foreign = set(), set()
    for path in sorted(root.glob("*.py")):
        source, module = path.read_text(), f"app_pages.{path.stem}"
        for match in used.finditer(source):
            key = match.group(1) or match.group(2)
            if key not in KEYS and key not in FIELDS:
                undeclared.add((module, key))
        for match in written.finditer(source):
            key = match.group(1)
            if key in KEYS and KEYS[key].owner != module and module != "app_pages.session":
                foreign.add((module, key))
    assert not undeclared, sorted(undeclared)
    assert not foreign, sorted(foreign)      # others go through app_pages.session's accessors
    assert len({k.lower() for k in KEYS}) == len(KEYS)
