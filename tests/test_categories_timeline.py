"""The four fractions over training (categories.timeline) and a timeline's frames."""

import jax
import numpy as np
import pytest

from categories import KEYS, Timeline, exact_fractions, fractions_over_training, settled_at, \
    timeline_caption, verdict
from drawing import FRAME_RES, boundary_cells, frame_rgb, record_training, support_map
from toymodels import TrainConfig, get_task


def _timeline(verdicts, steps=None, clean=None):
    n = len(verdicts)
    steps = np.arange(1, n + 1) * 10 if steps is None else np.asarray(steps)
    zeros = np.zeros(n)
    return Timeline(steps, zeros, zeros, {k: zeros for k in KEYS}, tuple(verdicts), 0.15, 0.8,
                    None if clean is None else np.asarray(clean))


@pytest.mark.parametrize("verdicts,index", [
    ((1, 1, 2, 3, 3), 3), ((3, 3, 3), 0), (("1-2", 2, "1-2", 2), 3), ((4,), 0),
])
def test_settled_at_is_where_the_verdict_stops_changing(verdicts, index):
    assert settled_at(_timeline(verdicts)) == index


def test_the_caption_names_the_category_and_the_step():
    assert timeline_caption(_timeline((1, 2, 3, 3))) == (
        "The model falls into category 3 (universal perturbations) at step 30 of 40 and "
        "stays there (eps = 0.15, tau = 0.8).")
    assert timeline_caption(_timeline((2, 2))).startswith("From the first snapshot (step 10) on")


def test_the_caption_says_when_the_last_snapshot_counts_too_little_of_d():
    # the fractions count the correctly classified points only: at 52% the category is
    # the category of half of D, and the caption says so; at 90% and above it does not
    assert timeline_caption(_timeline((1, 2, 4, 4), clean=(0.3, 0.4, 0.5, 0.5249))) == (
        "The model falls into category 4 (all perturbations are adversarial, on only 52% of "
        "D) at step 30 of 40 and stays there (eps = 0.15, tau = 0.8).")
    assert "% of D" not in timeline_caption(_timeline((4, 4), clean=(0.5, 0.9)))
    assert "on only 89% of D" in timeline_caption(_timeline((4, 4), clean=(0.5, 0.8999)))


def test_a_recorded_run_is_measured_snapshot_by_snapshot():
    task = get_task("pancakes")
    support = support_map(task, FRAME_RES).label
    seen = []
    run = record_training(task, TrainConfig(steps=120, width=32, depth=2), 4, support=support,
                          show=lambda snap, frame, history: seen.append((snap.step, len(history["loss"]))))
    assert seen == [(1, 1), (5, 2), (24, 3), (120, 4)]     # log-spaced: snapshot_steps(120, 4)
    assert len(run.frames) == 4 and run.frames[0].shape == (480, 480, 3)
    x, y = task.sample(jax.random.key(1), 300)
    t = fractions_over_training(run.snapshots, x, y, norm="inf", eps=0.1, tau=0.7)
    assert t.steps.tolist() == [1, 5, 24, 120]
    for i in (0, 3):
        pred = np.asarray(run.snapshots[i].logits_fn(x).argmax(-1))
        assert t.clean_accuracy[i] == pytest.approx((pred == np.asarray(y)).mean(), abs=1e-6)
        f = exact_fractions(run.snapshots[i].logits_fn, x, y, norm="inf", eps=0.1)
        for k in KEYS:
            assert t.fractions[k][i] == pytest.approx(float(getattr(f, k)), abs=1e-6)
        assert t.verdicts[i] == verdict({k: t.fractions[k][i] for k in KEYS}, 0.7)
        assert t.fractions["random"][i] <= t.fractions["universal"][i] + 1e-9 \
            <= t.fractions["pointwise"][i] + 2e-9
    with pytest.raises(ValueError, match="no snapshots"):
        fractions_over_training([], x, y, norm="2", eps=0.1)
    with pytest.raises(ValueError, match="support must be"):
        record_training(task, TrainConfig(steps=10), 2, support=np.zeros((5, 5), np.int32))


def test_a_frame_draws_regions_boundaries_and_d_with_y_upwards():
    regions = np.zeros((10, 10), np.int32)
    regions[5:, :] = 1                         # class 1 in the upper half (rows are y upwards)
    edge = boundary_cells(regions)
    assert edge[4].all() and edge.sum() == 10
    frame = frame_rgb(regions, 2, scale=2)
    assert frame.shape == (20, 20, 3)
    top, bottom = frame[0, 0], frame[-1, 0]
    assert tuple(top) != tuple(bottom)           # the image's top row is y's top
    assert (frame[10:12] == 0).all()             # the boundary row in black, scaled
    support = np.full((10, 10), -1, np.int32)
    support[0, 0] = 0
    darker = frame_rgb(regions, 2, support=support, scale=1)
    assert darker[-1, 0].sum() < frame_rgb(regions, 2, scale=1)[-1, 0].sum()


@pytest.mark.parametrize("name", ["margins", "wrinkles", "pancakes", "bubbles"])
def test_every_presets_timeline_shows_its_verdict_change_or_says_why_none(name):
    """Log-spaced snapshots (20, the page's default) catch the first steps: each preset's
    timeline passes through another verdict before its category, or its caption says why
    it never leaves it."""
    from toymodels import preset_config, sample_of_d

    task = get_task(name)
    run = record_training(task, preset_config(name), 20)
    x, y, _ = sample_of_d(task, 0, 300)
    t = fractions_over_training(run.snapshots, x, y, norm="2", eps=0.15)
    assert t.verdicts[-1] == task.expected
    changes = [i for i in range(1, len(t.verdicts)) if t.verdicts[i] != t.verdicts[i - 1]]
    caption = timeline_caption(t)
    if changes:
        assert caption.startswith(f"The model falls into category {task.expected} ")
        assert changes[0] < len(t.verdicts) - 1
    else:
        assert "no change is seen because" in caption, caption
    assert bool(changes) == (name != "margins")      # margins is robust from the start
