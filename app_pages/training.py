"""Watch a model train into its category (``/train``): the sidebar's model trained live,
one frame per snapshot, then a timeline to play and scrub with the four fractions over
training steps, so the moment the model falls into its category is visible."""

from __future__ import annotations

import streamlit as st

from categories import NAMES, KEYS, TRUSTED_ACCURACY, accuracy_caveat, settled_at, timeline_caption
from drawing import DEFAULT_SNAPSHOTS, FRACTION_COLORS, loss_spec, timeline_spec
from app_pages import cached
from app_pages.sidebar import state_now
from app_pages.texts import CAVEAT_WHY, model_words, norm_name
from app_pages.view import current_task

SNAPSHOT_CHOICES = (10, 20, 40)
STOP_CHOICES = (None, 0.9, 0.95, 0.99, 1.0)
PLAY_EVERY = 0.35      # seconds between frames while the timeline plays


def page() -> None:
    """The training page (``/train``)."""
    state = state_now()
    st.title("Watch a model train into its category")
    st.markdown(
        "Training moves the decision boundaries. Press **Train and watch**: the sidebar's model "
        "is trained from scratch while the plane shows its regions at each snapshot (D shaded "
        "dark in its true colours, boundaries in black). The snapshots are spaced on a log "
        "scale of steps (1, 2, 3, 5, ...), because the first steps move the boundaries most. "
        "Afterwards, each snapshot is "
        "measured at the sidebar's eps, and the timeline below plays the regions and the four "
        "fractions step by step: you see *when* the model falls into its category.")
    task_key, task = current_task(state)
    config = state.config()
    left, snapshots, stop_at = _controls(config)
    run_key = (task_key, config, snapshots, stop_at)
    live = None
    if left.button("Train and watch", type="primary", key="tl_train"):
        st.session_state["tl_index"] = max(SNAPSHOT_CHOICES)   # then the last snapshot
        st.session_state["tl_playing"] = False
        st.session_state.pop("tl_step", None)
        live = _train_live(run_key, task, config, snapshots, stop_at)
        if live is None:
            return
    run = cached.timeline_runs().get(run_key)
    if run is None:
        st.info("Press **Train and watch** to train this model and record its timeline.")
        return
    # the last live frame stays in view while the snapshots are measured
    bar = st.progress(0.0, text=f"Measuring the {len(run.snapshots)} snapshots at "
                                f"eps = {state.eps:g}...")
    timeline = cached.timeline(cached.model_key_of(task_key, config) + f"|{snapshots}|{stop_at}",
                               state.norm, state.eps, state.tau, task_key, state.seed, task,
                               run.snapshots, state.points,
                               _progress=lambda done: bar.progress(done, text=(
                                   f"Measuring snapshot {round(done * len(run.snapshots))} of "
                                   f"{len(run.snapshots)} at eps = {state.eps:g}...")))
    bar.empty()
    for slot in live or ():
        slot.empty()
    st.subheader("The timeline")
    st.markdown(f"**{timeline_caption(timeline)}**")
    if run.stopped:
        st.caption(f"Training stopped at step {run.snapshots[-1].step} of {config.steps}: the "
                   f"accuracy on a fresh sample of D reached {stop_at:g} (the other pages keep "
                   "the fully trained model).")
    st.caption(f"Fractions measured exactly ({norm_name(state.norm)}) at eps = {state.eps:g} on "
               f"the sample of D, for each snapshot; move eps or tau in the sidebar to measure "
               "again (the training is kept).")
    show_caveat(timeline)
    st.fragment(_player, run_every=PLAY_EVERY if st.session_state.get("tl_playing") else None)(
        run, timeline)


def _controls(config):
    """The snapshot count and the stop condition, with the model's settings beside them.

    Returns:
      (the left column, for the train button; snapshots; the accuracy to stop at or None).
    """
    left, right = st.columns([2, 3])
    snapshots = left.select_slider("snapshots", SNAPSHOT_CHOICES, value=DEFAULT_SNAPSHOTS, key="tl_snapshots",
                                   help="how many times training stops to record the model")
    stop_at = left.select_slider(
        "stop when the accuracy on D reaches", STOP_CHOICES, value=None, key="tl_stop",
        format_func=lambda v: "never (all steps)" if v is None else f"{v:g}",
        help="a stop condition: training ends at the first snapshot whose accuracy on a fresh "
             "sample of D reaches it")
    right.caption(f"Model: {model_words(config)}, {config.steps} steps, learning rate {config.learning_rate:g}, batch "
                  f"{config.batch_size}, weight decay {config.weight_decay:g}, seed {config.seed} "
                  "(change them in the sidebar).")
    return left, snapshots, stop_at


def show_caveat(timeline) -> None:
    """A warning naming the snapshots that classify too little of D correctly for their
    verdict to speak for D (their frames' captions carry the caveat too)."""
    low = [int(s) for s, a in zip(timeline.steps, timeline.clean_accuracy) if a < TRUSTED_ACCURACY]
    if not low:
        return
    which = (f"at step{'s' if len(low) > 1 else ''} {', '.join(map(str, low))}"
             if len(low) <= 5 else f"in {len(low)} snapshots, from step {low[0]} to {low[-1]}")
    st.warning(f"The model classifies less than {TRUSTED_ACCURACY:.0%} of D correctly "
               f"{which}: those frames say \"on only N% of D\". {CAVEAT_WHY} Such a "
               "verdict speaks for that part of D alone.", icon=":material/warning:")


def _train_live(run_key, task, config, snapshots: int, stop_at) -> tuple | None:
    """Trains with a live view (one frame and one loss point a snapshot).

    Returns:
      The live view's slots (to empty once the timeline replaces them), None on error.
    """
    frame_slot, chart_slot = st.columns([1, 1])
    frame, chart = frame_slot.empty(), chart_slot.empty()
    status = st.empty()

    def show(snapshot, image, history):
        frame.image(image, caption=f"step {snapshot.step} of {config.steps}", width="stretch")
        chart.vega_lite_chart(loss_spec(history["step"], history["loss"], history["accuracy"],
                                        held_out=history["held_out"], step=snapshot.step),
                              width="stretch")
        status.caption(f"Training: step {snapshot.step} of {config.steps}, loss "
                       f"{snapshot.loss:.3f}, accuracy {snapshot.accuracy:.3f} on the training "
                       f"set and {history['held_out'][-1]:.3f} on a fresh sample of D")

    try:
        cached.train_timeline(run_key, task, config, snapshots, show, stop_at)
    except ValueError as e:   # TrainingDiverged too: the same words as the other pages
        st.error(f"Cannot train this model: {e}")
        return None
    except RuntimeError as e:
        st.error(str(e))
        return None
    return frame, chart, status


def _player(run, timeline) -> None:
    """The timeline: play / pause, the step slider, the frame, the fractions and the loss."""
    n = len(run.snapshots)
    steps = [int(s) for s in timeline.steps]
    index = min(int(st.session_state.get("tl_index", n - 1)), n - 1)
    playing = st.session_state.get("tl_playing", False)
    dragged = st.session_state.get("tl_step")
    if dragged in steps and steps.index(dragged) != index:   # the user moved the slider
        index, playing = steps.index(dragged), False
    elif playing:
        index = min(index + 1, n - 1)
        playing = index < n - 1
    st.session_state["tl_index"], st.session_state["tl_playing"] = index, playing
    st.session_state["tl_step"] = steps[index]
    buttons, slider = st.columns([1, 4])
    if buttons.button("⏸ Pause" if playing else "▶ Play", key="tl_play",
                      help="play the snapshots from the first (or from here)"):
        if not playing and index >= n - 1:
            st.session_state["tl_index"] = 0
            st.session_state.pop("tl_step", None)
        st.session_state["tl_playing"] = not playing
        st.rerun()
    slider.select_slider("training step", steps, key="tl_step",
                         help="drag to scrub through the snapshots")
    snap = run.snapshots[index]
    left, right = st.columns([1, 1])
    verdict = timeline.verdicts[index]
    caveat = accuracy_caveat(timeline.clean_accuracy[index])
    left.image(cached.frame_png(run, index), width="stretch",
               caption=f"step {snap.step}: verdict {verdict} ({NAMES.get(verdict, '')}"
                       + (f", {caveat})" if caveat else ")"))
    right.markdown("<div style='display:flex;flex-wrap:wrap;gap:0.4em 1.6em'>" + "".join(
        f"<span><span style='color:{FRACTION_COLORS[k]};font-weight:600'>{k}</span> "
        f"<span style='font-size:1.35em'>{timeline.fractions[k][index]:.3f}</span></span>"
        for k in KEYS) + "</div>", unsafe_allow_html=True)
    settled = settled_at(timeline)
    # the shown step in a named dataset: the next frame sends the same specs with one new
    # row each, which the browser swaps in place instead of drawing both charts anew
    doubtful = timeline.clean_accuracy < TRUSTED_ACCURACY
    right.vega_lite_chart(timeline_spec(timeline.steps, timeline.fractions, tau=timeline.tau,
                                        step=snap.step, settled=int(timeline.steps[settled]),
                                        legend=False, marks="now", doubtful=doubtful,
                                        verdicts=timeline.verdicts,
                                        doubtful_label=f"< {TRUSTED_ACCURACY:.0%} of D right"),
                          width="stretch")
    right.caption("The four fractions over training steps, in the colours named above"
                  + (f"; grey: the snapshots right on less than {TRUSTED_ACCURACY:.0%} of D."
                     if doubtful.any() else "."))
    st.vega_lite_chart(loss_spec(timeline.steps, timeline.loss, timeline.accuracy,
                                 held_out=run.held_out, step=snap.step, marks="now"),
                       width="stretch")
