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

# Grading limits (per cell, seconds). A cell that runs past its limit is interrupted and the
# rest of the notebook still runs; mlsys-grade also bounds the whole notebook.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
c.Execute.execute_retries = 0
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
