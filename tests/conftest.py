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


# The longest test files first (longest-processing-time-first), so that `make test`'s two workers
# (pytest-xdist, --dist loadfile --no-loadscope-reorder) never end on a long file started last: lab QA of
# every lab (about a third of the suite), the demos in the browser, the batch, the class. The rest keep
# pytest's order.
LONGEST_FIRST = ["test_labs_qa.py", "browser/test_browser_demos.py", "test_grading_batch.py",
                 "browser/test_browser_class.py", "test_grading_hostile.py", "test_autograder_e2e.py",
                 "test_class_exchange.py", "browser/test_browser_course.py"]


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    missing = [name for name in LONGEST_FIRST if not (here / name).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py LONGEST_FIRST names files that are gone: {missing}")
    rank = {str(here / name): i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(str(item.path), len(rank)))  # stable: the rest keep their order


@pytest.fixture(scope="module")
def class_lock():
    """A machine holds one class at a time (its groups mlsys-graders and mlsys-students): a test
    module that makes one takes this lock first, so two pytest workers (make test runs two) never
    make two classes at once; the lock is the kernel's (flock), released if the worker dies."""
    with open(Path(tempfile.gettempdir()) / "mlsys-kit-class-tests.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield
