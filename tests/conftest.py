import fcntl
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# Deterministic, CI-sized property tests; `HYPOTHESIS_PROFILE=thorough` for more examples.
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("thorough", max_examples=400, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="module")
def class_lock():
    """A machine holds one class at a time (its groups mlsys-graders and mlsys-students): a test
    module that makes one takes this lock first, so two pytest workers (make test runs two) never
    make two classes at once; the lock is the kernel's (flock), released if the worker dies."""
    with open(Path(tempfile.gettempdir()) / "mlsys-kit-class-tests.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield
