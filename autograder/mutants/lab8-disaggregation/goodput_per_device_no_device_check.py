"""goodput_per_device checks the rate but not the devices: 0 devices raise ZeroDivisionError, and a
negative count gives a negative goodput, instead of ValueError."""
EDITS = [("goodput", "    if devices < 1 or rate < 0:", "    if rate < 0:")]
