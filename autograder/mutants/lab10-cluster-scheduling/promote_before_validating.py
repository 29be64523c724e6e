"""A promoted job returns queue 0 before its service is checked, so negative service passes."""
EDITS = [
    ('las', '    q = las_queue(attained, thresholds)\n    if waiting >= promote_knob * attained / gpus:\n        return 0\n    return q', '    if waiting >= promote_knob * attained / gpus:\n        return 0\n    return las_queue(attained, thresholds)'),
]
