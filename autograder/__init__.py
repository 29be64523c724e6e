"""mlsys-grade: the instructor's side of the course (``autograder.cli`` is the command).

Three rooms, each importing only the one below it:

* ``autograder.course``: the class, what an instructor runs: lab authoring (``build``), release
  (``release``), collect, grading a whole class in a pool of workers (``batch``, ``records``,
  ``procs``), feedback pages, the export and the class summary (``report``);
* ``autograder.submission``: one submission: the sandbox student code runs in (``sandbox``,
  ``sandbox_root``, ``kit``, ``runner``), the trusted judge that runs the tests (``judge``,
  ``names``, ``plan``, ``differential``), the channel between them (``channel``, ``nodes``,
  ``encoder``, ``decoder``), and nbgrader's steps around a run (``repair``, ``steps``, ``inert``,
  ``sanitize``, ``reference_check``);
* ``autograder.qa``: lab QA: the checks (``check``), the fast trusted runs (``run``,
  ``mutant_runs``) and the automatic mutants (``mutate``, ``operators``); the hand-written
  mutants of each lab live in ``autograder/mutants/<lab>/``.
"""
