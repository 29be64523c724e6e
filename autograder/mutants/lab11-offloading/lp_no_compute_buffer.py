"""The device's capacity is not reduced by the prefill's compute buffer."""
EDITS = [("lp", "b[0] -= compute_buffer(model, batch_size, prompt_len)", "pass")]
