"""The Streamlit UI: the pages, the sidebar they share, and the UI's own state.

``app.py`` routes between the six pages with ``st.navigation``; around each page it
draws the sidebar, shows the link's warnings, and writes the view back to the URL:

- :func:`explore_page` (the default page): one model, its verdict ladder, the plane,
  the curves over eps, the four categories, probe, attacks and downloads;
- :func:`lesson_page` (``/lesson``): the essay in nine steps, each with one thing to try;
- :func:`presets_page` (``/presets``): the four presets side by side;
- :func:`training_page` (``/train``): the sidebar's model trained live, then a timeline
  of its regions and four fractions to play and scrub;
- :func:`geometry_page` (``/geometry``): normals, crossings, transfer, retraining,
  certificates and dominant labels;
- :func:`scale_page` (``/scale``): a real ImageNet model's four estimated fractions,
  its universal perturbation and photos before and after it.

Inside, one concept per module: :mod:`~app_pages.urlstate` (the view's state and the
URL), :mod:`~app_pages.sidebar`, :mod:`~app_pages.play` (clicks, the delta pad, the random
deltas, the eps sweep), :mod:`~app_pages.canvas` (drawing D by hand),
:mod:`~app_pages.sections` (the explore page's tabs), :mod:`~app_pages.texts`, :mod:`~app_pages.reading`
(sample, profile, fractions at eps), :mod:`~app_pages.estimates` (attacks against the
exact values), :mod:`~app_pages.downloads`, :mod:`~app_pages.cached` (every
``st.cache_*`` wrapper) and :mod:`~app_pages.view` (what every page reads).

Example:
    >>> from app_pages import ViewState, state_from_query
    >>> state_from_query({"norm": "linf"})[0] == ViewState(norm="inf")
    True
"""

from app_pages.explore import page as explore_page
from app_pages.geometry import page as geometry_page
from app_pages.lesson import page as lesson_page
from app_pages.overview import page as presets_page
from app_pages.scale import page as scale_page
from app_pages.training import page as training_page
from app_pages.sidebar import (hidden_parts, hide_sidebar, show_url_warnings, sidebar,
                               state_now, write_url)
from app_pages.urlstate import ViewState, state_from_query, state_to_query

__all__ = ["ViewState", "explore_page", "geometry_page", "hidden_parts", "hide_sidebar",
           "lesson_page", "presets_page", "scale_page", "show_url_warnings",
           "sidebar", "state_from_query", "state_now", "state_to_query", "training_page", "write_url"]
