"""The fit counts only the parameters and the gradients (what the forward and backward passes
touch) and forgets Adam's moments, the biggest term: the 7.5B model seems to fit at stage 0 on
8 GPUs of 80 GB (60 GB instead of 120 GB), and 44 parameters on 3 ranks in 300 bytes at stage 2
instead of 3."""
EDITS = [("design", "if sum(memory_per_device(psi, ranks, stage).values()) <= device_bytes:",
          "if memory_per_device(psi, ranks, stage)[\"params_bytes\"] + memory_per_device(psi, ranks, stage)[\"grads_bytes\"] "
          "<= device_bytes:")]
