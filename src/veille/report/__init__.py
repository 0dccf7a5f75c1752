"""Reports (see render.py)."""
