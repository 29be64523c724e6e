"""The student's version of a lab (nbgrader's generate_assignment step): a design question's rubric
is left out of it."""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor

from autograder.submission.repair import is_rubric


class DropRubrics(NbGraderPreprocessor):
    """nbgrader generate_assignment, last: a design question's rubric (an nbgrader task cell worth
    0 points, saved in the gradebook by then) is left out of the student's version, where an empty
    locked cell would look like a second answer box. Autograde puts it back from the source
    (``RepairFromSource``), so the formgrader shows it under the answer it grades."""

    def preprocess(self, nb, resources):
        nb.cells = [c for c in nb.cells if not is_rubric(c)]
        return nb, resources
