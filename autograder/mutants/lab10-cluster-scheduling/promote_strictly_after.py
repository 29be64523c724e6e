"""Waiting exactly promote_knob times the run time does not promote yet."""
EDITS = [
    ('las', '    if waiting >= promote_knob * attained / gpus:', '    if waiting > promote_knob * attained / gpus:'),
]
