"""The geometry page: every tab renders real numbers; retraining runs from a button."""

import os

from streamlit.testing.v1 import AppTest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(ROOT, "app_pages", "geometry.py")


def _run(at, tab):
    at.session_state["geo_tab"] = tab
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_geometry_page_tabs_and_retraining():
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["dataset"] = "pancakes"   # the shared sidebar's state
    at.run()
    assert not at.exception and not at.error
    ratio, random_ratio, alignment = (float(m.value) for m in at.metric)
    assert ratio < 0.15 and random_ratio > 0.9 and alignment > 0.95
    _run(at, "Certificates")
    cert, exact, attack = (float(m.value) for m in at.metric)
    assert cert <= exact <= attack
    _run(at, "Crossings")
    assert at.table
    _run(at, "Transfer")
    assert any("Press the button" in i.value for i in at.info)
    _run(at, "Retraining")
    at.number_input(key="geo_retrain_steps").set_value(60)
    at.number_input(key="geo_retrain_rounds").set_value(1)
    at.button(key="geo_retrain_run").click().run()
    assert not at.exception and not at.error
    before, after = (m.value for m in at.metric)
    assert before == "3" and after in ("1", "2", "3", "4", "1-2")
    assert len(at.table) == 1


def test_geometry_page_reads_the_shared_sidebar_state():
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["dataset"] = "wrinkles"
    _run(at, "Normals")
    ratio, random_ratio, alignment = (float(m.value) for m in at.metric)
    assert ratio > 0.8 and alignment < 0.2
    assert "wrinkles" in at.caption[0].value
