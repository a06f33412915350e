"""The training page (``/train``) under AppTest: train live, then play and scrub the
timeline; the timeline's numbers are the exact fractions of the snapshots."""

import jax
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from categories import KEYS, exact_fractions, verdict

from helpers import APP, FAST as FAST_MODEL, assert_app_ok as _ok, follow_link, open_page

FAST = {**FAST_MODEL, "dataset": "pancakes"}


def _train_page(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({**FAST, **{k: str(v) for k, v in query.items()}})
    at.run()
    return open_page(at, "train").run()


@pytest.fixture(scope="module")
def trained_page():
    at = _train_page()
    _ok(at)
    assert at.title[0].value == "Watch a model train into its category"
    assert any("Press **Train and watch**" in i.value for i in at.info)
    at.select_slider(key="tl_snapshots").set_value(10).run()
    at.button(key="tl_train").click().run()
    _ok(at)
    return at


def test_training_records_log_spaced_snapshots_and_shows_the_last(trained_page):
    at = trained_page
    slider = at.select_slider(key="tl_step")
    # spaced on a log scale, so the first steps, where the boundaries move most, are seen
    assert list(slider.options) == ["1", "2", "3", "5", "8", "13", "22", "36", "60", "100"]
    assert slider.value == 100
    assert at.subheader[0].value == "The timeline"
    caption = at.markdown[[i for i, m in enumerate(at.markdown) if "category" in m.value
                           and m.value.startswith("**")][0]].value
    assert "eps = 0.15" in caption


def test_timeline_numbers_are_the_snapshots_exact_fractions(trained_page):
    from app_pages import cached
    from toymodels import get_task, train

    runs = cached.timeline_runs()
    (task_key, config, snapshots, stop_at), run = next(iter(runs.items()))
    assert (task_key, snapshots, config.steps, stop_at) == ("pancakes", 10, 100, None)
    assert not run.stopped and len(run.held_out) == 10 and 0 <= min(run.held_out) <= 1
    # the last snapshot is the model itself: the same parameters as training without snapshots
    alone = train(get_task("pancakes"), config)
    last = run.snapshots[-1].logits_fn
    for a, b in zip(jax.tree.leaves(alone.logits_fn), jax.tree.leaves(last)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    x, y, _ = cached.sample("pancakes", 0, get_task("pancakes"))
    timeline = cached.timeline(cached.model_key_of("pancakes", config) + "|10|None", "2", 0.15, 0.8,
                               "pancakes", 0, get_task("pancakes"), run.snapshots)
    for i in (0, 4, 9):
        f = exact_fractions(run.snapshots[i].logits_fn, x, y, norm="2", eps=0.15)
        got = {k: timeline.fractions[k][i] for k in KEYS}
        assert got == pytest.approx({k: float(getattr(f, k)) for k in KEYS}, abs=1e-6)
        assert timeline.verdicts[i] == verdict(got, 0.8)
    assert run.frames[0].shape == run.frames[-1].shape and run.frames[0].dtype == np.uint8
    assert not np.array_equal(run.frames[0], run.frames[-1])    # the boundaries moved


def test_scrubbing_and_playing_move_through_the_snapshots(trained_page):
    at = trained_page
    at.select_slider(key="tl_step").set_value(5).run()
    _ok(at)
    captions = [c for image in at.get("image") for c in image.captions]
    assert any(c.startswith("step 5: verdict") for c in captions), captions
    at.button(key="tl_play").click().run()          # play from here: one snapshot a run
    _ok(at)
    assert at.button(key="tl_play").label.endswith("Pause")
    seen = [int(at.select_slider(key="tl_step").value)]
    for _ in range(2):
        at.run()
        seen.append(int(at.select_slider(key="tl_step").value))
    assert seen == sorted(seen) and seen[-1] > seen[0] >= 5
    at.button(key="tl_play").click().run()          # pause
    assert at.button(key="tl_play").label.endswith("Play")
    still = at.select_slider(key="tl_step").value
    at.run()
    assert at.select_slider(key="tl_step").value == still


def test_optimiser_controls_reach_the_model_and_the_url():
    at = _train_page(learning_rate="0.03", batch_size="64", weight_decay="0.001")
    _ok(at)
    assert "learning rate 0.03, batch 64, weight decay 0.001" in " ".join(c.value for c in at.caption)
    at.sidebar.select_slider(key="batch_size").set_value(128).run()
    assert at.query_params["batch_size"] == "128"
    bad = AppTest.from_file(APP, default_timeout=300)
    bad.query_params.update({**FAST, "learning_rate": "7", "weight_decay": "-1"})
    bad.run()
    warned = " ".join(w.value for w in bad.warning)
    assert "learning_rate=7 ignored: choose one of 0.001, 0.003, 0.01, 0.03, 0.1" in warned
    assert "weight_decay=-1 ignored" in warned


def test_a_lecture_link_hides_the_sidebar_and_the_page_list_and_keeps_hiding():
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({**FAST, "hide": "nav,sidebar"})
    at.run()
    _ok(at)
    styles = [m.value for m in at.markdown if "stSidebar" in m.value]
    assert styles and "display: none" in styles[0]
    assert at.query_params["hide"] == "sidebar,nav"           # kept in the link, in order
    plain = AppTest.from_file(APP, default_timeout=300)
    plain.query_params.update({**FAST, "hide": "everything"})
    plain.run()
    assert not [m.value for m in plain.markdown if "stSidebar" in m.value]
    assert any("hide=everything ignored: cannot hide 'everything'" in w.value for w in plain.warning)
    assert "hide" not in plain.query_params


def _lesson(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({**FAST, **{k: str(v) for k, v in query.items()}})
    at.run()
    return open_page(at, "lesson").run()


def test_the_lesson_walks_the_essay_with_one_thing_to_try_per_step():
    from app_pages.lesson import STEPS
    from categories import FORMULAS

    at = _lesson(eps="0.1")
    _ok(at)
    assert at.title[0].value.startswith("A lesson")
    assert len(STEPS) == 9
    seen = []
    for i in range(len(STEPS)):
        at.session_state["lesson_step"] = i
        at.run()
        _ok(at)
        head = at.subheader[0].value
        seen.append(head)
        assert head == f"{i + 1}. {STEPS[i].title}"
        assert any(s.value.startswith("**Try this.**") for s in at.info)
        if STEPS[i].category is not None:
            assert at.latex[0].value.strip("$\n") == FORMULAS[STEPS[i].category]
            assert f"{STEPS[i].preset} at eps = 0.1: robust" in " ".join(c.value for c in at.caption)
        if STEPS[i].page == "scale":    # the presets beside a real model, measured or to measure
            table = at.table[0].value
            assert list(table.index[:4]) == ["margins", "wrinkles", "pancakes", "bubbles"]
            assert set(table["measured"][:4]) == {"exact (2D)"}
            for name in ("margins", "wrinkles", "pancakes", "bubbles"):
                f = {k: float(table.loc[name, k]) for k in ("robust", "pointwise", "universal",
                                                            "random")}
                assert 0 <= f["random"] <= f["universal"] <= f["pointwise"] <= 1, name
                assert f["robust"] + f["pointwise"] <= 1 + 1e-3, name
    assert seen[2:6] == ["3. Category 1: no adversarial perturbations",
                         "4. Category 2: adversarial perturbations",
                         "5. Category 3: universal perturbations",
                         "6. Category 4: all perturbations are adversarial"]


@pytest.mark.parametrize("step", [2, 3, 5])
def test_the_lesson_links_open_their_own_preset_in_the_same_session(step):
    """Steps 3, 4 and 6 (categories 1, 2 and 4) link to margins, wrinkles and bubbles: the
    link is followed inside the session, whose sidebar already holds another data set."""
    from app_pages.lesson import STEPS

    at = _lesson(eps="0.1")
    at.session_state["lesson_step"] = step
    at.run()
    _ok(at)
    assert at.session_state["dataset"] == "pancakes"
    follow_link(at, at.get("page_link")[0])
    _ok(at)
    assert at.session_state["dataset"] == STEPS[step].preset
    assert at.title[0].value.startswith(f"{STEPS[step].preset}: category ")
    assert at.session_state["eps"] == 0.1                 # the learner's reading travels along
    assert at.query_params["dataset"] == STEPS[step].preset


def test_a_stop_condition_ends_training_at_the_first_snapshot_that_meets_it():
    at = _train_page(steps="500")
    at.select_slider(key="tl_snapshots").set_value(10).run()
    at.select_slider(key="tl_stop").set_value(0.9).run()
    at.button(key="tl_train").click().run()
    _ok(at)
    from app_pages import cached

    key, run = [(k, r) for k, r in cached.timeline_runs().items() if k[3] == 0.9][0]
    assert run.stopped and run.snapshots[-1].step < 500
    assert run.held_out[-1] >= 0.9 and all(h < 0.9 for h in run.held_out[:-1])
    steps = [int(s) for s in at.select_slider(key="tl_step").options]
    assert steps[-1] == run.snapshots[-1].step
    assert any(c.value.startswith(f"Training stopped at step {steps[-1]} of 500")
               for c in at.caption)
    # a cut-short run is not the model of its config: the other pages keep the full one
    full = cached.model_store()[(key[0], key[1])].logits_fn
    import jax
    assert any(not np.array_equal(a, b) for a, b in
               zip(jax.tree.leaves(full), jax.tree.leaves(run.trained.logits_fn)))


def test_a_snapshot_right_on_little_of_d_shows_its_verdict_with_the_caveat(trained_page):
    from app_pages import cached
    from toymodels import get_task

    at = trained_page
    run = next(iter(cached.timeline_runs().values()))
    x, y, _ = cached.sample("pancakes", 0, get_task("pancakes"))
    accuracy = [float((np.asarray(s.logits_fn(x).argmax(-1)) == y).mean()) for s in run.snapshots]
    low = [i for i, a in enumerate(accuracy) if a < 0.9]
    assert low, accuracy                 # 1 step into a 100-step run, D is far from learnt
    for i in (low[0], int(np.argmax(accuracy))):
        at.select_slider(key="tl_step").set_value(run.snapshots[i].step).run()
        _ok(at)
        caption = [c for image in at.get("image") for c in image.captions
                   if c.startswith(f"step {run.snapshots[i].step}: verdict")][0]
        caveat = f", on only {int(np.floor(accuracy[i] * 100))}% of D)"
        assert caption.endswith(caveat) == (accuracy[i] < 0.9), (caption, accuracy[i])
    warning = [w.value for w in at.warning if "count only the points" in w.value]
    assert len(warning) == 1
    assert f"step{'s' if len(low) > 1 else ''} {run.snapshots[low[0]].step}" in warning[0] \
        or f"from step {run.snapshots[low[0]].step} to" in warning[0]
