"""The app's words: what each category means, how to read the page, the measures in LaTeX.

In DESIGN.md's vocabulary; the formulas themselves are :data:`categories.FORMULAS`.
"""

import numpy as np

from categories import TRUSTED_ACCURACY

# Two or three plain sentences per category, in DESIGN.md's vocabulary.
EXPLANATIONS = {
    1: "No adversarial perturbations: the whole ball B_eps around a point of D stays in its "
       "own class region, so no change of size eps alters the answer. robust(eps) is the "
       "share of D farther than eps from every boundary (rho(I) > eps); in the picture, H "
       "lies inside regions of its own colour.",
    2: "Adversarial perturbations: every point I has its own small delta that crosses a "
       "boundary (rho(I) <= eps). The deltas may point every which way, like the arrows of "
       "the minimal perturbations, so one delta need not fool many points.",
    3: "Universal perturbations: one single delta, the same for every point, pushes most of "
       "D across a boundary. It exists when the boundaries near D are oriented alike; "
       "universal(eps) is the best share one delta of size at most eps fools.",
    4: "All perturbations are adversarial: D sits in small bubbles inside regions of another "
       "class, so a delta of size eps in any direction leaves the bubble. random(eps) is the "
       "share of points fooled by a delta drawn uniformly on the sphere S_eps.",
}
HOW_TO_READ = """
- **f** is the trained classifier; its **regions** are tinted by class and its **decision
  boundaries** drawn in black.
- **D** is the test distribution: its support is shaded dark in each point's *true* class
  colour, with the sampled points on it (crossed when f gets them wrong). The four
  fractions count the points f classifies correctly.
- **H** is the eps-neighbourhood of D (the human-recognisable inputs), shaded lighter in
  the colour of the nearest part of D. Where a region of another colour reaches into H, a
  small perturbation fools f.
- **B_eps** is the ball of radius eps (a disc in l2, a square in l∞), **S_eps** its
  boundary; **rho(I)** is a point's distance to the nearest boundary, and the minimal
  perturbation points there.
- The **verdict ladder** reads the four fractions from category 4 down: 4 if random ≥ tau,
  else 3 if universal ≥ tau, else 2 if pointwise ≥ tau, else 1 if robust ≥ tau, else
  "1-2". Move eps and tau in the sidebar; the model is not retrained.
- **Probe a point** (*for all I, exists delta*): click anywhere on the plane to mark that
  point with its ball B_eps, its minimal perturbation and rho; the tab "Probe a point"
  adds how many boundaries the straight paths cross.
- **Play the delta pad** (*exists delta, for all I*): click the ball beside the plane to
  choose one delta for all of D; the plane moves every point by it, rings the ones it
  flips, and the score compares it with the best delta.
- **Attacks vs exact**: how far FGSM, PGD,
  DeepFool and the universal algorithms fall short of the exact values.
"""

# why the l-inf arrows point diagonally (a newcomer expects the straight move)
LINF_ARROWS = ("Under l∞, B_eps is a square, and its corners reach farthest: a boundary that "
               "does not run exactly along an axis is met first by a corner, so the minimal "
               "perturbation points diagonally (its l∞ length is rho; a straight move across "
               "needs more). Where a whole edge of the square meets a boundary at once, every "
               "point of that edge is minimal, and the arrow drawn is the shortest of them.")

MEASURES = {
    1: r"\mathrm{robust}(\varepsilon) = P_I[\rho(I) > \varepsilon]",
    2: r"\mathrm{pointwise}(\varepsilon) = P_I[\rho(I) \le \varepsilon]",
    3: r"\mathrm{universal}(\varepsilon) = \max_{\delta \in B_\varepsilon} "
       r"P_I[f(I+\delta) \neq f(I)]",
    4: r"\mathrm{random}(\varepsilon) = P_{I,\ \delta \sim U(S_\varepsilon)}[f(I+\delta) \neq f(I)]",
}

# What the refusal of a long upload tells the app's user to do (the app has no --max-rows).
CSV_ROW_ADVICE = ("the most the app reads: upload a sample of the rows, or measure the whole "
                  "file on the command line: python -m categories report --csv FILE --max-rows N")


def model_words(config) -> str:
    """The model's size in words, the same on every page: "3 hidden layers of 64 relu units"
    (``config``: a :class:`toymodels.TrainConfig` or a view state)."""
    layers = "hidden layer" if config.depth == 1 else "hidden layers"
    return f"{config.depth} {layers} of {config.width} {config.activation} units"


# why the fractions count only the points the model gets right (every caveat says it)
CAVEAT_WHY = ("The four fractions, and so the verdict, count only the points the model "
              "classifies correctly: a perturbation is adversarial when it turns a right answer "
              "into a wrong one, and where the answer is already wrong there is nothing to turn.")


def caveat_words(clean_accuracy: float) -> str:
    """Why a verdict on a model that gets much of D wrong speaks for part of D only."""
    share = f"{int(np.floor(clean_accuracy * 100 + 1e-9))}%"
    return (f"The model classifies only {share} of D correctly (below {TRUSTED_ACCURACY:.0%}). "
            f"{CAVEAT_WHY} So this verdict speaks for {share} of D alone, and a model wrong on "
            "much of D can look robust on the part it gets right. Train it longer or larger "
            "(sidebar) before trusting its category.")


def changes_words(found, tau: float) -> str:
    """Where the verdict changes, in one sentence (``found``: a :class:`categories.Changes`):
    ``eps ≈ 0.084 (2 → 3); eps ≈ 0.090 (3 → 4)``, each with its precision."""
    if not found.changes:
        return (f"The verdict is {found.first} over the whole range, eps from "
                f"{found.start:g} to {found.stop:g} (tau = {tau:g}).")
    parts = []
    for c in found.changes:
        between = (f", {' and '.join(map(str, c.skipped))} for less than {found.precision:g}"
                   if c.skipped else "")
        parts.append(f"eps ≈ {c.eps:.3f} ({c.before} → {c.after}{between})")
    start = (f"At eps = {found.start:g} the verdict is already {found.first}; it changes at "
             if found.first != 1 else "The verdict changes at ")
    return (start + "; ".join(parts) + f" (tau = {tau:g}; each to ±{found.precision:g}, "
            "located with the exact values at eps, not read off the curves' grid).")


def norm_name(norm: str) -> str:
    """How the pages write a norm: ``"l2"`` or ``"l∞"``."""
    return "l2" if norm == "2" else "l∞"


# why the ladder's four numbers always come in this order (shown under the ladder)
CHAIN_WHY = (
    "Why random ≤ universal ≤ pointwise, always: a delta drawn at random is one delta, and "
    "the best single delta flips at least as much of D as the average one does; a point "
    "flipped by the best delta has a delta of its own within eps (that one), so it counts in "
    "pointwise too. And robust = 1 − pointwise: a point is robust exactly when no delta in "
    "B_eps flips it. So the verdict is the first rung from the top that reaches tau.")


# Page-wide style of the explore page: metric values, verdict names and formulas shrink
# with the window instead of being cut ("0....", "universal perturbati...").
PAGE_CSS = """<style>
[data-testid="stMetricValue"] > div { font-size: clamp(1.1rem, 2.3vw, 2.25rem); }
[data-testid="stMetricLabel"] p { font-size: clamp(0.65rem, 1.05vw, 0.875rem); }
[data-testid="stMetricDelta"] { font-size: clamp(0.65rem, 1.05vw, 0.875rem); }
[data-testid="stMetricValue"] *, [data-testid="stMetricDelta"] *,
[data-testid="stMetricLabel"] * { white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; word-break: normal !important;
  overflow-wrap: normal !important; }
[data-testid="stMetricDelta"] * { overflow-wrap: anywhere !important; }
.st-key-pad_click iframe { max-width: 360px; }
.katex-display > .katex { font-size: clamp(0.6em, calc((100vw - 400px) * 0.0175), 1.21em); }
@media (max-width: 1250px) {
  /* the ladder's cards: room for "2 · pointwise" on one line */
  [data-testid="stMetric"] { padding-left: 0.55rem !important; padding-right: 0.55rem !important; }
  /* the category cards one a row, so that their formulas keep a readable size */
  .st-key-categories [data-testid="stHorizontalBlock"] { flex-wrap: wrap !important; }
  .st-key-categories [data-testid="stColumn"] { min-width: 100% !important; flex: 1 1 100% !important; }
  .st-key-categories .katex-display > .katex { font-size: 1.1em; }
}
</style>"""
