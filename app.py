"""The Streamlit visualizer of the four robustness categories: ``streamlit run app.py``.

A router: the pages are functions of :mod:`app_pages` (UI only; every computation is in
``categories`` and ``toymodels``, every picture in ``drawing``). The sidebar (data set,
model, norm, eps, tau) is shared by all pages and mirrored in the URL, so a link
reproduces a view.
"""

import streamlit as st

import app_pages

st.set_page_config(page_title="Robustness categories", page_icon="◐", layout="wide")

page = st.navigation([
    st.Page(app_pages.explore_page, title="Explore a model", icon=":material/travel_explore:",
            url_path="explore", default=True),
    st.Page(app_pages.presets_page, title="The four presets", icon=":material/grid_view:",
            url_path="presets"),
    st.Page(app_pages.geometry_page, title="Geometry of the boundaries",
            icon=":material/architecture:", url_path="geometry"),
])
app_pages.sidebar()
app_pages.show_url_warnings()
page.run()
app_pages.write_url(app_pages.state_now())
