"""The *At full scale* page (``/scale``) under AppTest: it reads a run of
``python -m imagenet categories`` from the app's cache and shows its estimates, each with
the direction of its bound, the caveats, the curve and the photos before and after."""

from streamlit.testing.v1 import AppTest

from helpers import APP, FAST, assert_app_ok, open_page, seed_scale_run


def test_the_page_shows_a_runs_estimates_with_their_bounds():
    result = seed_scale_run()
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update(FAST)
    at.run()
    open_page(at, "scale").run()
    assert_app_ok(at)
    assert at.selectbox(key="scale_run").value == "tiny-linf"
    # Lite0 has no run in this session's cache: the page offers to measure it
    assert [b.label for b in at.button if b.key == "scale_compute"]
    for eps_index, eps in ((1, 16.0), (0, 4.0)):
        at.select_slider(key="scale_eps").set_value(eps).run()
        assert_app_ok(at)
        row = result["curve"][eps_index]
        table = at.dataframe[0].value
        shown = dict(zip(table["fraction"], table["estimate"]))
        assert shown == {"random": f"≈ {row['random']:.3f}",
                         "universal": f"≥ {row['universal']:.3f}",
                         "pointwise": f"≥ {row['pointwise']:.3f}",
                         "robust": f"≤ {row['robust']:.3f}"}
        assert list(table["bound"])[1:] == ["lower bound", "lower bound", "upper bound"]
        assert any(m.value.startswith(f"**Verdict of the estimates: category {row['verdict']}**")
                   for m in at.markdown)
        assert len(at.warning) == len(row["caveats"]) and all(
            w.value.startswith("Not proven:") for w in at.warning)
    # the curve, the perturbation and four photos before and after it
    assert len(at.get("image")) == 1 + 1 + 2 * 4
