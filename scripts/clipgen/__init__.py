"""Synthetic gate-lane clip generator: scene model, drawing, scenarios, encoding (make_clip.py)."""
