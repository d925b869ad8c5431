"""The coach dashboard (Streamlit): `cruxlab dashboard`. app.py is the entry (navigation, sidebar, error states),
views/ holds the pages (render only), data.py is the one module that reads and writes the store, figures.py
draws, components.py holds widgets shared by pages, demo_data.py builds synthetic stores for demos and tests."""
