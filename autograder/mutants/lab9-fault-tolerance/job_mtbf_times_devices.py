"""The job MTBF multiplies by the devices instead of dividing (more devices, fewer failures)."""
EDITS = [("waste", "return float(device_mtbf / devices)", "return float(device_mtbf * devices)")]
