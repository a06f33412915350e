"""The Streamlit visualizer of the four robustness categories: ``streamlit run app.py``.

Widgets in, figures and tables out: the pages are in ``app_pages/`` (UI only), every
computation in ``categories/`` and ``toymodels/``. The sidebar (data set, model, norm,
eps, tau) is shared by all pages and mirrored in the URL, so a link reproduces a view.
"""

import os

import streamlit as st

from app_pages import shared

HERE = os.path.dirname(os.path.abspath(__file__))

st.set_page_config(page_title="Robustness categories", page_icon="◐", layout="wide")

pages = [
    st.Page("app_pages/explore.py", title="Explore a model", icon=":material/travel_explore:",
            default=True),
    st.Page("app_pages/overview.py", title="The four presets", icon=":material/grid_view:",
            url_path="presets"),
]
# Further pages register here when their file exists (the geometry page: boundary normals,
# crossings, transfer, retraining, certificates).
if os.path.exists(os.path.join(HERE, "app_pages", "geometry.py")):
    pages.append(st.Page("app_pages/geometry.py", title="Geometry of the boundaries",
                         icon=":material/architecture:", url_path="geometry"))

page = st.navigation(pages)
shared.sidebar()
shared.show_url_warnings()
page.run()
shared.write_url(shared.state_now())
