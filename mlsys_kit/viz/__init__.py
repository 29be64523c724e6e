"""Shared drawing helpers, and only those: one colour per concept and the figure plumbing
(:mod:`.figure`: ``PALETTE``, ``new_figure``, ``figure_png``, ``save_figure``). Each topic's own
plots and lecture widgets live in its room (``mlsys_kit/<topic>/viz.py``).

This file imports nothing: import each name from the module that defines it.
"""
