import os

from hypothesis import settings

# Deterministic, CI-sized property tests; `HYPOTHESIS_PROFILE=thorough` for more examples.
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("thorough", max_examples=400, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
