"""The geometry page: every tab renders the numbers ``categories`` computes for the
sidebar's model; retraining runs from a button.

The page runs on its own (as a function, without the router): it reads the sidebar's
session state with the app's defaults, here the default model on a preset.
"""

import pytest
from streamlit.testing.v1 import AppTest

from app_pages import ViewState
from categories import crossings_measure, verdict
from toymodels import PRESETS, get_task, load_or_train, sample_of_d


def _geometry_page():
    from app_pages import geometry_page

    geometry_page()


def _page(dataset: str) -> AppTest:
    at = AppTest.from_function(_geometry_page, default_timeout=300)
    at.session_state["dataset"] = dataset   # the shared sidebar's state
    return at


def _run(at, tab):
    at.session_state["geo_tab"] = tab
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _setting(dataset: str):
    """The default model on ``dataset`` and its sample of D, as the page reads them
    (the model comes from the cache the page filled; the sample is redrawn)."""
    state = ViewState(dataset=dataset)
    task = get_task(dataset)
    model = load_or_train(task, state.config())
    x, y, key = sample_of_d(task, state.seed, 1000, max_points=2000)
    return state, model, x, y, key


def test_geometry_page_tabs_and_retraining():
    at = _page("pancakes")
    at.run()
    assert not at.exception and not at.error
    ratio, random_ratio, alignment = (float(m.value) for m in at.metric)
    assert ratio < 0.15 and random_ratio > 0.9 and alignment > 0.95
    _run(at, "Certificates")
    cert, exact, attack = (float(m.value) for m in at.metric)
    assert cert <= exact <= attack
    _run(at, "Crossings")
    # the table is the crossings categories measures for the same model, eps and key
    state, model, x, y, key = _setting("pancakes")
    expected = crossings_measure(model.logits_fn, x, y, norm=state.norm, eps=state.eps, key=key)
    shown = at.table[0].value
    assert list(shown.columns) == ["universal", "pointwise", "random"]
    for kind in shown.columns:
        assert shown.loc["mean crossings", kind] == pytest.approx(expected[kind]["mean"],
                                                                  abs=5e-4)
        assert shown.loc["max", kind] == expected[kind]["max"]
        assert shown.loc["label changed at the end", kind] == pytest.approx(
            expected[kind]["end_changed"], abs=5e-4)
    assert shown.loc["mean crossings", "universal"] >= shown.loc["label changed at the end",
                                                                 "universal"]
    _run(at, "Transfer")
    assert any("Press the button" in i.value for i in at.info)
    _run(at, "Retraining")
    at.number_input(key="geo_retrain_steps").set_value(60)
    at.number_input(key="geo_retrain_rounds").set_value(1)
    at.button(key="geo_retrain_run").click().run()
    assert not at.exception and not at.error
    before, after = (m.value for m in at.metric)
    table = at.table[0].value             # rows: the fractions and the clean accuracy
    assert list(table.columns) == ["before", "after"]
    shown = {side: {k: float(table.loc[k, side]) for k in
                    ("robust", "pointwise", "universal", "random")} for side in table.columns}
    # each verdict is the rule's reading of the fractions shown beside it, and before
    # retraining the preset is in the category it was built for
    assert before == str(verdict(shown["before"], state.tau)) == str(PRESETS["pancakes"].expected)
    assert after == str(verdict(shown["after"], state.tau))
    assert shown["before"]["robust"] + shown["before"]["pointwise"] == pytest.approx(1, abs=2e-3)


def test_geometry_page_reads_the_shared_sidebar_state():
    at = _page("wrinkles")
    _run(at, "Normals")
    ratio, random_ratio, alignment = (float(m.value) for m in at.metric)
    assert ratio > 0.8 and alignment < 0.2
    assert "wrinkles" in at.caption[0].value
