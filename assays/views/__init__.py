"""Isolation pages, one module per area: the protocol library and editor, rotors and the
centrifugation calculator, runs, and the comparison page. ``assays/urls.py`` names them."""
