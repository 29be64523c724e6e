# nbgrader configuration of the mlsys-kit course (this folder is the course root).
# `mlsys-grade` and `make lab` both use it; command-line flags of mlsys-grade override the limits.
c = get_config()  # noqa: F821

c.CourseDirectory.course_id = "mlsys"
c.CourseDirectory.root = "."
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# The exchange (nbgrader's release/fetch/submit between accounts on one machine) lives in the
# course folder, so the JupyterLab extensions work without a system-wide /srv folder.
import os  # noqa: E402

c.Exchange.root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exchange")
os.makedirs(c.Exchange.root, exist_ok=True)

# Student versions: solutions become `raise NotImplementedError()`; hidden tests are removed
# from the release and restored from the gradebook at autograde time.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# The student's version: nbgrader's own steps, then the design questions' rubrics left out (they are
# saved in the gradebook by then, and autograde puts them back for the formgrader)
from nbgrader.preprocessors import (CheckCellMetadata as _Check, ClearHiddenTests as _Hidden,  # noqa: E402
                                    ClearMarkScheme as _Scheme, ClearOutput as _Out, ClearSolutions as _Sol,
                                    ComputeChecksums as _Sums, IncludeHeaderFooter as _Header,
                                    InstantiateTests as _Instantiate, LockCells as _Lock, SaveCells as _Save)

from autograder.course.release import DropRubrics  # noqa: E402

c.GenerateAssignment.preprocessors = [_Header, _Instantiate, _Lock, _Sol, _Out, _Check, _Sums, _Save, _Hidden, _Scheme,
                                      _Sums, _Check, DropRubrics]

# Grading limits (per cell, seconds). A cell that runs past its limit is interrupted and the
# rest of the notebook still runs; mlsys-grade also bounds the whole notebook.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
c.Execute.execute_retries = 0
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# Grading runs student code in a sandbox (autograder/submission/sandbox.py): namespaces hide this folder
# and the network, rlimits bound CPU, memory, processes and files, and tests run where student
# code cannot rewrite, silence or fake them. MLSYS_GRADE_PLAIN=1 gives nbgrader's stock pipeline
# (used only by the benchmark that measures what isolation costs).
if os.environ.get("MLSYS_GRADE_PLAIN") != "1":
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds,
                                        IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec,
                                        SaveAutoGrades)

    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import ClearMarkScheme, GetGrades

    from autograder.submission.inert import InertNotebook
    from autograder.course.feedback import HideHiddenTests, SafeFeedback
    from autograder.submission.repair import RepairFromSource
    from autograder.submission.steps import CapOutputs, SettleRubrics
    from autograder.submission.sandbox import SandboxedExecute

    # RepairFromSource first: duplicated, moved, deleted cells and odd metadata repaired by grade id
    c.Autograde.sanitize_preprocessors = [ClearOutput, RepairFromSource, DeduplicateIds, OverwriteKernelspec,
                                          OverwriteCells, CheckCellMetadata]
    # CapOutputs: the total output of one submission is capped before grades are saved;
    # SettleRubrics: 0-point rubric tasks do not keep a submission awaiting a manual grade;
    # InertNotebook (after SaveAutoGrades: grades never depend on it): the autograded notebook, which the
    # formgrader renders and feedback is made from, keeps no active content (scripts, handlers, widgets, ...)
    c.Autograde.autograde_preprocessors = [SandboxedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                                           CapOutputs, SaveAutoGrades, SettleRubrics, AssignLatePenalties,
                                           InertNotebook, CheckCellMetadata]
    # feedback: a test cell shows its visible tests and the judge's verdict only, and no cell that ran after a
    # hidden test shows its output; no active content (SafeFeedback: the notebook made inert once more);
    # a rubric (mark scheme) is for the instructor: the formgrader shows it, a feedback page never does
    c.GenerateFeedback.preprocessors = [GetGrades, ClearMarkScheme, HideHiddenTests, SafeFeedback,
                                        CSSHTMLHeaderPreprocessor]
    c.CapOutputs.max_total_kb = 4096
    # defence in depth: the formgrader's and feedback's exporter sanitise what they render (markdown cells and
    # outputs, raw cells, HTML outputs; no JavaScript output), with the same allow-list as InertNotebook
    c.HTMLExporter.sanitize_html = True
    c.HTMLExporter.filters = {"clean_html": "autograder.submission.sanitize.clean_html",
                              "markdown2html": "autograder.submission.sanitize.markdown2html"}
    # limits per submission (mlsys-grade autograde --timeout/--notebook-timeout override the first two)
    c.SandboxedExecute.timeout = 60
    c.SandboxedExecute.notebook_timeout = 600
    c.SandboxedExecute.cpu_seconds = 600
    c.SandboxedExecute.memory_mb = 6144
    c.SandboxedExecute.max_processes = 64
    c.SandboxedExecute.max_file_mb = 64
    c.SandboxedExecute.max_output_kb = 1024
