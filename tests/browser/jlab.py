"""Driving a real JupyterLab in headless Chromium (Playwright), the way JupyterLab's own Galata
tests do: the server runs with ``expose_app_in_browser`` so the test can ask ``window.jupyterapp``
for commands and for the notebook model, while clicks, drags and typing go through the page."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = os.environ.get("MLSYS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "screenshots"
BIN = Path(sys.executable).parent
COURSE_JUPYTER_CONFIG = ROOT / "labs" / "jupyter-config"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    root: Path  # what the server shows: notebooks/ and labs/ (a scratch copy of the course)
    port: int
    token: str
    proc: subprocess.Popen

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{sep}token={self.token}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_lab(root: Path) -> LabServer:
    """JupyterLab on 127.0.0.1, a random port and token, rooted at ``root``, started in
    ``root/labs`` so that nbgrader's extensions find the course there."""
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(root / ".jupyter"), PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
               JUPYTER_CONFIG_PATH=str(COURSE_JUPYTER_CONFIG))  # the course's config, as `make lab` uses it
    log = open(root / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [str(BIN / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         f"--LabApp.workspaces_dir={root / '.workspaces'}", "--ServerApp.port_retries=0",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=root / "labs", env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = LabServer(root, port, token, proc)
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited: {(root / 'jupyterlab.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(server.url("api/status"), timeout=2) as r:
                if r.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    server.stop()
    raise RuntimeError("jupyter lab did not answer within 90 s")


def scratch_root(tmp: Path) -> Path:
    """A copy of notebooks/ and of the course (config and sources) for the server to show."""
    shutil.copytree(ROOT / "notebooks", tmp / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (tmp / "labs").mkdir()
    shutil.copy(ROOT / "labs" / "nbgrader_config.py", tmp / "labs")
    shutil.copytree(ROOT / "labs" / "source", tmp / "labs" / "source")
    return tmp


def pristine_release(root: Path) -> Path:
    """Where the session's server keeps the released labs as nbgrader wrote them (outside its root:
    a test that saves a filled-in notebook does not change what the next test starts from)."""
    return root.with_name(root.name + "-pristine-release")


# ---- page helpers ---------------------------------------------------------------------------
def open_notebook(page, server: LabServer, path: str) -> None:
    """Open ``path`` in a fresh workspace and wait until it is the current, connected notebook."""
    page.goto(server.url(f"lab/tree/{path}?reset"))
    page.wait_for_function(
        """path => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            return w && w.context && w.context.path === path && w.sessionContext && w.sessionContext.session
                && w.sessionContext.session.kernel && w.content && w.content.widgets.length > 0;
        }""", arg=path, timeout=90_000, polling=250)
    wait_idle(page)


def wait_idle(page, timeout_ms: int = 180_000) -> None:
    """Until the kernel is idle and no cell shows [*]."""
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
            if (!k || k.status !== 'idle') return false;
            return ![...w.node.querySelectorAll('.jp-InputPrompt')].some(e => e.textContent.includes('*'));
        }""", timeout=timeout_ms, polling=250)


def command(page, name: str) -> None:
    page.evaluate("name => window.jupyterapp.commands.execute(name)", name)


def run_all(page, timeout_ms: int = 240_000) -> None:
    """Run every cell and wait until each code cell has run (an execution count) and the kernel is idle."""
    command(page, "notebook:run-all-cells")
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            const k = w.sessionContext.session && w.sessionContext.session.kernel;
            const cells = w.content.widgets.filter(c => c.model.type === 'code');
            const failed = cells.some(c => c.model.toJSON().outputs.some(o => o.output_type === 'error'));
            return k && k.status === 'idle' && (failed || cells.every(c => c.model.executionCount !== null));
        }""", timeout=timeout_ms, polling=250)
    wait_idle(page)


def run_cell(page, index: int, timeout_ms: int = 120_000) -> None:
    """Make cell ``index`` the active one and run it (Shift+Enter's command), then wait for it."""
    page.evaluate("i => { const w = window.jupyterapp.shell.currentWidget; w.content.activeCellIndex = i; }", index)
    command(page, "notebook:run-cell")
    page.wait_for_function(
        """i => {
            const w = window.jupyterapp.shell.currentWidget;
            const k = w.sessionContext.session && w.sessionContext.session.kernel;
            return k && k.status === 'idle' && w.content.widgets[i].model.executionCount !== null;
        }""", arg=index, timeout=timeout_ms, polling=250)


def notebook_json(page) -> dict:
    return page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.toJSON()")


def grade_id(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def fill_cell(page, gid: str, text: str) -> None:
    """Replace the source of the open notebook's cell with nbgrader grade id ``gid`` by ``text``,
    typed into its editor as a student pastes it (select all, insert: no auto-indent)."""
    idx = next(i for i, c in enumerate(notebook_json(page)["cells"]) if grade_id(c) == gid)
    editor = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(idx).locator(".cm-content")
    editor.scroll_into_view_if_needed()
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(text)


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
