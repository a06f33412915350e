import jax
import numpy as np
import pytest

from toymodels import TrainConfig, TrainingDiverged, classify_grid, get_task, plane_grid, train
from toymodels.modelfile import load_model, save_model


def test_training_is_deterministic_by_seed():
    task = get_task("margins")
    a = train(task, TrainConfig(steps=200, width=16, depth=2, seed=5))
    b = train(task, TrainConfig(steps=200, width=16, depth=2, seed=5))
    c = train(task, TrainConfig(steps=200, width=16, depth=2, seed=6))
    la, lb, lc = (jax.tree_util.tree_leaves(t.logits_fn) for t in (a, b, c))
    for u, v in zip(la, lb):
        np.testing.assert_array_equal(u, v)
    assert any(not np.array_equal(u, v) for u, v in zip(la, lc))
    assert a.history == b.history


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh", "gelu"])
def test_every_activation_learns_a_classic_set(activation):
    t = train(get_task("gauss"), TrainConfig(steps=300, width=16, depth=2, activation=activation))
    assert t.accuracy > 0.9
    assert t.history["loss"][-1] < t.history["loss"][0]


def test_diverged_run_is_refused_with_a_clear_error():
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        train(get_task("xor"), TrainConfig(steps=20, learning_rate=1e30, width=8, depth=1))


def test_bad_config():
    with pytest.raises(ValueError, match="unknown activation"):
        train(get_task("xor"), TrainConfig(activation="swish", steps=5))
    with pytest.raises(ValueError, match="steps must be at least 1"):
        train(get_task("xor"), TrainConfig(steps=0))


def test_progress_reports_every_chunk():
    seen = []
    train(get_task("xor"), TrainConfig(steps=50, width=8, depth=1),
          progress=lambda frac, loss: seen.append(frac), chunks=5)
    assert seen == [0.2, 0.4, 0.6, 0.8, 1.0]


def test_save_load_round_trip(tmp_path):
    t = train(get_task("moons"), TrainConfig(steps=100, width=16, depth=2))
    path = tmp_path / "m.npz"
    save_model(str(path), t, task_name="moons", num_classes=2)
    loaded = load_model(str(path))
    g = plane_grid(((-1, 1), (-1, 1)), 64)
    np.testing.assert_array_equal(classify_grid(t.logits_fn, g), classify_grid(loaded.logits_fn, g))
    assert loaded.config == t.config and loaded.task_name == "moons"
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_model(str(tmp_path / "bad.npz"))


def test_grid_orientation_rows_are_y():
    f = jax.tree_util.Partial(lambda x: jax.numpy.stack([x[:, 1], -x[:, 1]], 1))
    lab = classify_grid(f, plane_grid(((-1, 1), (-1, 1)), 8))
    assert (lab[:4] == 1).all() and (lab[4:] == 0).all()


def test_snapshots_record_the_run_and_do_not_change_the_model():
    """Stopping 7 times to record gives the model of a plain run (one key per step,
    whatever the chunks), and the last snapshot is that model."""
    task, config = get_task("margins"), TrainConfig(steps=140, width=16, depth=2, seed=3)
    plain = train(task, config)
    snaps = []
    recorded = train(task, config, chunks=7, on_snapshot=snaps.append)
    assert [s.step for s in snaps] == [20, 40, 60, 80, 100, 120, 140]
    for a, b, c in zip(*(jax.tree_util.tree_leaves(t) for t in
                         (plain.logits_fn, recorded.logits_fn, snaps[-1].logits_fn))):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert [s.loss for s in snaps] == recorded.history["loss"]
    assert [s.accuracy for s in snaps] == recorded.history["accuracy"]
    first, last = (jax.tree_util.tree_leaves(s.logits_fn) for s in (snaps[0], snaps[-1]))
    assert any(not np.array_equal(u, v) for u, v in zip(first, last))   # each its own params


def test_a_log_spaced_schedule_records_its_steps_and_gives_the_same_model():
    """Snapshots at uneven steps (run in scans of 256, 16 and 1 steps) change nothing in
    the model: each step is the same computation, whatever the scan it runs in."""
    from toymodels import snapshot_steps

    task, config = get_task("margins"), TrainConfig(steps=300, width=16, depth=2, seed=3)
    at = snapshot_steps(300, 8)
    assert at[0] == 1 and at[-1] == 300 and all(b > a for a, b in zip(at, at[1:]))
    snaps = []
    recorded = train(task, config, chunks=at, on_snapshot=snaps.append)
    assert tuple(s.step for s in snaps) == at
    for a, b in zip(*(jax.tree_util.tree_leaves(t) for t in
                      (train(task, config).logits_fn, recorded.logits_fn))):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="snapshot steps must increase from 1 and end at 300"):
        train(task, config, chunks=(5, 3, 300))
    with pytest.raises(ValueError, match="end at 300"):
        train(task, config, chunks=(1, 2))


def test_weight_decay_and_batch_size_reach_the_optimiser():
    task, base = get_task("margins"), TrainConfig(steps=60, width=8, depth=1)
    leaves = [jax.tree_util.tree_leaves(train(task, c).logits_fn) for c in (
        base, TrainConfig(steps=60, width=8, depth=1, weight_decay=0.01),
        TrainConfig(steps=60, width=8, depth=1, batch_size=32))]
    for other in leaves[1:]:
        assert any(not np.array_equal(u, v) for u, v in zip(leaves[0], other))
    with pytest.raises(ValueError, match="batch size must be at least 1"):
        train(task, TrainConfig(steps=5, batch_size=0))
    with pytest.raises(ValueError, match=r"weight decay must be in \[0, 1\)"):
        train(task, TrainConfig(steps=5, weight_decay=-0.1))
