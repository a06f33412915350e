"""The Streamlit visualizer of the four robustness categories: ``streamlit run app.py``.

A router: the pages are functions of :mod:`app_pages` (UI only; every computation is in
``categories`` and ``toymodels``, every picture in ``drawing``). The sidebar (data set,
model, norm, eps, tau) is shared by all pages and mirrored in the URL, so a link
reproduces a view; ``?hide=sidebar,nav`` hides the sidebar or the page list (a lecture).
"""

import streamlit as st

import app_pages
from store import release_compiled_programs

st.set_page_config(page_title="Robustness categories", page_icon="◐", layout="wide")

hidden = app_pages.hidden_parts()       # ?hide=sidebar,nav: a lecture or an embedded view
page = st.navigation([
    st.Page(app_pages.explore_page, title="Explore a model", icon=":material/travel_explore:",
            url_path="explore", default=True),
    st.Page(app_pages.lesson_page, title="A lesson in nine steps", icon=":material/school:",
            url_path="lesson"),
    st.Page(app_pages.presets_page, title="The four presets", icon=":material/grid_view:",
            url_path="presets"),
    st.Page(app_pages.training_page, title="Watch it train", icon=":material/play_circle:",
            url_path="train"),
    st.Page(app_pages.geometry_page, title="Geometry of the boundaries",
            icon=":material/architecture:", url_path="geometry"),
    st.Page(app_pages.scale_page, title="At full scale", icon=":material/photo_library:",
            url_path="scale"),
], position="hidden" if "nav" in hidden else "sidebar")
app_pages.sidebar()
if "sidebar" in hidden:
    app_pages.hide_sidebar()
app_pages.show_url_warnings()
# The server lives for days and compiles anew for every new size a learner picks: below the
# kernel's limit of memory mappings, where XLA:CPU would crash (programs reload from disk).
release_compiled_programs()
page.run()
app_pages.write_url(app_pages.state_now())
