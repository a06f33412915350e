"""The sidebar every page shares (data set, model, norm, eps, tau) and its round trip
URL -> widgets -> :class:`~app_pages.urlstate.ViewState` -> URL, so a link reproduces a view.

Widget keys are the ViewState's field names, and so the URL's parameter names.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from toymodels import ACTIVATIONS, PRESETS, TASK_NAMES
from app_pages.session import drawn_points, load_drawing, set_probe, take_eps_request
from app_pages.urlstate import (BATCH_SIZES, DEPTHS, EPS_MAX, EPS_STEP, FIELDS, LEARNING_RATES,
                                NOISES, OVERLAYS, POINTS, STEPS, UPLOAD, DRAWN, WEIGHT_DECAYS,
                                WIDTHS, ViewState, state_from_query, state_to_query)

DEFAULT = ViewState()


def dataset_label(name: str) -> str:
    """The data set's name in the sidebar's list (a preset says which category it is for)."""
    if name == UPLOAD:
        return "upload a CSV (x,y,label)"
    if name == DRAWN:
        return "draw your own D (canvas)"
    if name in PRESETS:
        return f"{name}  (built for category {PRESETS[name].expected})"
    return name


def _init_from_url() -> None:
    """On a session's first run, puts the URL's (validated) values into the widgets; later,
    those the URL changed since the app last wrote it (a link inside the app, such as the
    lesson's *Try it*, or the browser's back button)."""
    query = st.query_params.to_dict()
    if st.session_state.get("_initialised"):
        written = st.session_state.get("_url_written")
        # a widget changed by hand is written to the URL at the end of its run, so until
        # then the URL still equals what was written: only a followed link differs from it
        followed = {k: v for k, v in query.items()
                    if k in FIELDS and written is not None and written.get(k) != v}
        if followed:
            _apply_query(followed, named_only=True)
        return
    _apply_query(query, named_only=False)
    st.session_state["_initialised"] = True


def _apply_query(query: dict, *, named_only: bool) -> None:
    """Puts the (validated) values of ``query`` into the widgets (with ``named_only``, only
    those it names; else the defaults for the rest); warns of the bad ones."""
    state, warnings = state_from_query(query)
    for name in FIELDS:
        if name not in query and (named_only or name in st.session_state):
            continue          # the link says nothing of it: the widget keeps its value
        if name == "drawn":   # not a widget: the canvas's points
            if "drawn" in query or "drawn_points" not in st.session_state:
                load_drawing(state.drawn)
            continue
        value = getattr(state, name)
        st.session_state[name] = list(value) if name == "overlays" else value
    if state.probe is not None:
        set_probe(*state.probe)
    st.session_state["_url_warnings"] = warnings


def hidden_parts() -> tuple[str, ...]:
    """The parts of the page the link hides (``?hide=sidebar,nav``: a lecture or an
    embedded view); reads the URL on a session's first run."""
    _init_from_url()
    return tuple(st.session_state.get("hide") or ())


def hide_sidebar() -> None:
    """Hides the sidebar and its expand arrow (the controls keep their values)."""
    st.markdown("<style>[data-testid='stSidebar'], [data-testid='stSidebarCollapsedControl'],"
                " [data-testid='stExpandSidebarButton'] {display: none !important}</style>",
                unsafe_allow_html=True)


def state_now() -> ViewState:
    """The :class:`~app_pages.urlstate.ViewState` of the widgets as they are now (the
    defaults for those not drawn yet)."""
    session = st.session_state
    values = {name: session[name] for name in FIELDS
              if name in session and name not in ("overlays", "probe", "delta", "hide", "drawn")}
    overlays = tuple(o for o in OVERLAYS if o in (session.get("overlays") or ()))
    px, py = session.get("probe_x"), session.get("probe_y")
    probe = (float(px), float(py)) if px is not None and py is not None else None
    delta = session.get("delta")
    delta = (float(delta[0]), float(delta[1])) if delta is not None else None
    hide = tuple(session.get("hide") or ())
    drawn = tuple(drawn_points())
    return dataclasses.replace(DEFAULT, **values, overlays=overlays, probe=probe, delta=delta,
                               hide=hide, drawn=drawn)


def write_url(state: ViewState) -> None:
    """Writes ``state`` to the URL's query parameters (only ours, and only when changed;
    other pages' parameters are left alone)."""
    query = state_to_query(state)
    now = st.query_params.to_dict()
    for name in FIELDS:
        if name in query and now.get(name) != query[name]:
            st.query_params[name] = query[name]
        elif name not in query and name in now:
            del st.query_params[name]
    st.session_state["_url_written"] = query


def sidebar() -> ViewState:
    """Draws the controls (URL values on first run) and returns the state they set."""
    _init_from_url()
    asked = take_eps_request()                 # a frame of the eps sweep (app_pages.play)
    if asked is not None:
        st.session_state["eps"] = asked
    bar = st.sidebar
    bar.header("Data set D")
    bar.selectbox("dataset", TASK_NAMES + (UPLOAD, DRAWN), key="dataset", format_func=dataset_label,
                  help="The four presets are built to land in categories 1-4 at eps = 0.15.")
    if st.session_state["dataset"] == UPLOAD:
        bar.file_uploader("CSV with x,y,label rows", type=["csv", "txt"], key="csv_file")
        bar.toggle("rescale into the plane", value=True, key="csv_rescale",
                   help="on: the points are centred and divided by one factor into [-0.9, "
                        "0.9]² (the page says by how much); off: kept as written, so spacing "
                        "designed against eps stays (they must lie in [-1, 1]²)")
    own = st.session_state["dataset"] == UPLOAD         # a CSV's points are its own
    bar.select_slider("number of points of D", POINTS, key="points", disabled=own,
                      help="How many points of D are measured: the four fractions count "
                           "among them, and the plane draws them. The model trains on twice as "
                           "many points of D (the four presets also on plane points labelled by "
                           f"their intended regions). The presets' own: {DEFAULT.points}. A "
                           "change retrains. When drawing: how many points \"start from\" "
                           "loads. (Not for an uploaded CSV: its points are its own.)")
    bar.select_slider("noise (spread of D)", NOISES, key="noise", disabled=own,
                      format_func=lambda v: f"{v:g}",
                      help="Every point of D, for training and for measuring, moved by Gaussian "
                           "noise of this standard deviation (the plane is [-1, 1]²; eps is "
                           "0.15 by default). Labels stay, so noisy points can land in another "
                           "class's region. 0: D as built (the presets' own). A change "
                           "retrains; the same seed gives the same points.")
    bar.header("Model")
    left, right = bar.columns(2)
    left.selectbox("width", WIDTHS, key="width", help="units per hidden layer")
    right.selectbox("depth", DEPTHS, key="depth", help="hidden layers")
    left.selectbox("activation", tuple(ACTIVATIONS), key="activation")
    right.selectbox("training steps", STEPS, key="steps")
    bar.number_input("seed", min_value=0, max_value=2 ** 31 - 1, step=1, key="seed",
                     help="one seed: the model's training and the sample of D")
    with bar.expander("Optimiser (learning rate, batch, weight decay)"):
        st.select_slider("learning rate", LEARNING_RATES, key="learning_rate",
                         help="Adam's peak learning rate (cosine decay to 1% of it)")
        st.select_slider("batch size", BATCH_SIZES, key="batch_size", help="points per step")
        st.select_slider("weight decay", WEIGHT_DECAYS, key="weight_decay",
                         format_func=lambda w: f"{w:g}",
                         help="decoupled weight decay (AdamW); 0 trains with plain Adam")
    bar.header("Reading")
    bar.radio("norm", ("2", "inf"), key="norm", horizontal=True,
              format_func=lambda n: "l2" if n == "2" else "l∞",
              help="B_eps is a disc (l2) or a square (l∞)")
    bar.slider("eps (radius of B_eps)", min_value=EPS_STEP, max_value=EPS_MAX, step=EPS_STEP,
               key="eps", format="%.3f", help="changing eps never retrains or rescans")
    bar.slider("tau (the 'almost all' share)", min_value=0.05, max_value=1.0, step=0.01,
               key="tau")
    return state_now()


def show_url_warnings() -> None:
    """Shows (once) the URL values that were ignored."""
    for warning in st.session_state.pop("_url_warnings", []):
        st.warning(f"Link: {warning}")
