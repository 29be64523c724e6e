"""The run time is taken as the attained GPU-seconds, not divided by the job's GPUs."""
EDITS = [
    ('las', '    if waiting >= promote_knob * attained / gpus:', '    if waiting >= promote_knob * attained:'),
]
