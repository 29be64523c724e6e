"""The KV cache is sized for prompt_len + gen_len entries: the last generated token is never cached."""
EDITS = [("lp", "T = prompt_len + gen_len - 1", "T = prompt_len + gen_len")]
