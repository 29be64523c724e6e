"""A class on JupyterHub, as a class uses it (issue #26): ``mlsys-grade class start`` on a
roster of one instructor and three students (Linux accounts made for the test), the instructor
generates and releases lab 0 in the formgrader, each student logs in, fetches it from the
assignment list, fills the KV-cache answer (one right, one wrong, one hostile) and submits; the
instructor collects, autogrades (the kit's judge), generates and releases feedback in the
formgrader; each student fetches their own feedback and only that. A student's attempts to read a
classmate's submission through the file system and through Jupyter's contents API fail. One hub
start; the accounts, their processes and the class folder are removed even when a step fails.

Needs root (useradd, a hub that runs each server as its account), the hub's proxy
(``make proxy``: node_modules/) and Chromium; skipped with a reason otherwise.
"""

from __future__ import annotations

import glob
import grp
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from jlab import BIN, ROOT, command, fill_cell, free_port, grade_id, notebook_json, run_cell, shot

LAB = "lab0-costs"
PROXY = ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
RIGHT = "    return 2 * cfg.layers * cfg.n_kv_heads * cfg.head_dim * cfg.dtype_bytes"
WRONG = "    return cfg.layers * cfg.n_kv_heads * cfg.head_dim * cfg.dtype_bytes"


def hostile(exchange: str, victim: str) -> str:
    """Reads a classmate's submissions and home, and writes into their inbound folder; at grading
    time the judge runs it too. Prints READ/WROTE for what worked and DENIED for what did not."""
    return f'''    import glob, os
    for target in glob.glob("{exchange}/mlsys/inbound/{victim}/*") + ["{exchange}/mlsys/inbound/{victim}",
                                                                     "/home/{victim}/{LAB}"]:
        try:
            print("READ", target, os.listdir(target) if os.path.isdir(target) else open(target).read()[:20])
        except OSError as e:
            print("DENIED", target, type(e).__name__)
    try:
        open("{exchange}/mlsys/inbound/{victim}/planted", "w").write("x")
        print("WROTE planted")
    except OSError as e:
        print("DENIED write", type(e).__name__)
    return 10**9'''


@pytest.fixture(scope="module")
def klass(class_lock):
    if os.geteuid() != 0:
        pytest.skip("a class makes Linux accounts and runs each server as its account: run the test as root")
    if not PROXY.is_file():
        pytest.skip(f"no configurable-http-proxy at {PROXY}: `make proxy` (npm ci) installs it")
    if any(_group_exists(g) for g in ("mlsys-graders", "mlsys-students")):
        pytest.skip("another class holds this machine's class groups (mlsys-graders, mlsys-students): "
                    "`mlsys-grade class remove --dir DIR` it first")
    tag = secrets.token_hex(2)
    names = {"instructor": f"mlt{tag}prof", "right": f"mlt{tag}ann", "wrong": f"mlt{tag}ben",
             "hostile": f"mlt{tag}eve"}
    root = Path(tempfile.mkdtemp(prefix="mlsys-class-test-", dir="/tmp"))
    os.chmod(root, 0o755)
    folder = root / "class"
    roster = root / "roster.csv"
    roster.write_text("username,role,first_name,last_name\n" + "".join(
        f"{n},{'instructor' if k == 'instructor' else 'student'},{k.title()},Test\n" for k, n in names.items()))
    port = free_port()
    _uids: list[int] = []
    env = dict(os.environ, PYTHONPATH=str(ROOT), MLSYS_CLASS_EXPOSE_APP="1")
    log = open(root / "class.out", "w+")
    proc = subprocess.Popen([str(BIN / "mlsys-grade"), "class", "start", "--roster", str(roster), "--dir", str(folder),
                             "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.time() + 150
        while "Stop it with Ctrl-C" not in (text := (root / "class.out").read_text()):
            assert proc.poll() is None and time.time() < deadline, f"class start failed:\n{text[-3000:]}"
            time.sleep(0.5)
        passwords = {line.split()[1]: line.split()[3] for line in text.splitlines() if " password " in line}
        assert set(passwords) == set(names.values()), text
        _uids.extend(pwd.getpwnam(n).pw_uid for n in names.values())
        yield {"url": f"http://127.0.0.1:{port}", "names": names, "passwords": passwords, "folder": folder,
               "proc": proc, "out": root / "class.out"}
    finally:
        started = _descendants(proc.pid)  # the hub (its own session) and the proxy, if stopping fails
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                started = _descendants(proc.pid) or started
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for child in started:
            try:
                child.kill()
            except psutil.Error:
                pass
        subprocess.run([str(BIN / "mlsys-grade"), "class", "remove", "--purge", "--dir", str(folder)], env=env,
                       capture_output=True, text=True, timeout=120)
        uids = set(_uids)
        left = [n for n in names.values() if _user_exists(n)]
        left += [f"process {p.pid} of uid {p.info['uids'].real}" for p in psutil.process_iter(["uids"])
                 if p.info["uids"] and p.info["uids"].real in uids]
        left += [str(p) for u in uids for p in Path(tempfile.gettempdir()).glob(f"mlsys-kit-cache-{u}")]
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"left behind: {left}"


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _descendants(pid: int) -> list:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def login(page, url: str, user: str, password: str) -> None:
    page.goto(f"{url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")


def wait_lab(page, timeout_ms: int = 150_000) -> None:
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started !== undefined",
                           timeout=timeout_ms, polling=500)
    page.wait_for_selector(".jp-LabShell", timeout=timeout_ms)


def formgrader_click(page, selector: str, timeout_ms: int = 180_000) -> str:
    """Click a formgrader button; return the text of the dialog it answers with (closed after)."""
    page.locator(selector).first.click()
    modal = page.locator("#success-modal, #error-modal").first
    modal.wait_for(state="visible", timeout=timeout_ms)
    page.wait_for_timeout(300)
    text = modal.inner_text()
    modal_id = modal.get_attribute("id")
    page.locator(f"#{modal_id} .modal-footer button").first.click()
    page.locator(f"#{modal_id}").wait_for(state="detached", timeout=30_000)
    assert modal_id == "success-modal", text
    return text


def assignment_list(page) -> None:
    command(page, "nbgrader:open-assignment-list")
    page.wait_for_selector("#released_assignments_list", timeout=60_000)


def list_button(page, panel: str, text: str, timeout_ms: int = 60_000):
    button = page.locator(f"#{panel} button", has_text=text).first
    button.wait_for(timeout=timeout_ms)
    return button


def fill_answer(page, url: str, user: str, body: str) -> dict:
    page.goto(f"{url}/user/{user}/lab/tree/{LAB}/{LAB}.ipynb?reset")
    page.wait_for_function(
        """path => {
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            return w && w.context && w.context.path === path && w.sessionContext && w.sessionContext.session
                && w.sessionContext.session.kernel && w.content && w.content.widgets.length > 0;
        }""", arg=f"{LAB}/{LAB}.ipynb", timeout=120_000, polling=250)
    cells = notebook_json(page)["cells"]
    fill_cell(page, "kv_bytes", f"def kv_bytes_per_token(cfg: TransformerConfig) -> int:\n    # {user}'s answer\n{body}\n")
    for gid in ("setup", "kv_bytes", "test_kv_bytes"):
        run_cell(page, next(i for i, c in enumerate(cells) if grade_id(c) == gid))
    command(page, "docmanager:save")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
    return notebook_json(page)


def outputs_text(nb: dict, gid: str) -> str:
    cell = next(c for c in nb["cells"] if grade_id(c) == gid)
    return "".join("".join(o.get("text", "")) + o.get("ename", "") for o in cell.get("outputs", []))


def api_get(page, path: str) -> dict:
    """GET ``path`` from the page, as JupyterLab asks its server (the _xsrf cookie as a header)."""
    return page.evaluate("""async path => {
        const m = document.cookie.match(/(?:^|; )_xsrf=([^;]*)/);
        const r = await fetch(path, {credentials: 'same-origin', headers: {'X-XSRFToken': m ? m[1] : ''}});
        return {status: r.status, body: (await r.text()).slice(0, 2000)};
    }""", path)


def phase(t0: float, what: str) -> None:
    print(f"[class test] {time.time() - t0:5.1f} s  {what}", flush=True)


def test_a_class_releases_submits_grades_and_returns_feedback(browser, klass):
    t0 = time.time()
    url, names, pw, folder = klass["url"], klass["names"], klass["passwords"], klass["folder"]
    exchange = str(folder / "exchange")
    pages = {}
    for role, user in names.items():  # every login at once: the hub spawns the servers side by side
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        pages[role] = ctx.new_page()
        login(pages[role], url, user, pw[user])
    for page in pages.values():
        wait_lab(page)
    prof, inst = pages["instructor"], names["instructor"]
    phase(t0, 'logged in, 4 servers up')

    # a student sees the assignment list and Validate, never the formgrader or Create Assignment
    student = pages["right"]
    assert api_get(student, f"/user/{names['right']}/formgrader/")["status"] == 404
    assert not student.evaluate("() => window.jupyterapp.commands.hasCommand('nbgrader:open-formgrader')")
    assert not student.evaluate("() => window.jupyterapp.commands.hasCommand('nbgrader:open-create-assignment')")
    assert prof.evaluate("() => window.jupyterapp.commands.hasCommand('nbgrader:open-formgrader')")

    # the instructor: generate the student version, release it
    prof.goto(f"{url}/user/{inst}/formgrader/manage_assignments")
    row = f"tr:has(td.name:has-text('{LAB}'))"
    prof.wait_for_selector(row, timeout=60_000)
    formgrader_click(prof, f"{row} td.assign a")
    prof.wait_for_selector(f"{row} td.release a", timeout=60_000)
    shot(prof, "class-instructor-formgrader")
    formgrader_click(prof, f"{row} td.release a")

    # the students: fetch, fill, submit
    phase(t0, 'released')
    answers = {"right": RIGHT, "wrong": WRONG, "hostile": hostile(exchange, names["right"])}
    notebooks = {}
    for role in answers:
        page, user = pages[role], names[role]
        assignment_list(page)
        list_button(page, "released_assignments_list", "Fetch").click()
        list_button(page, "fetched_assignments_list", "Submit")
        if role == "right":
            shot(page, "class-student-assignment-list")
        notebooks[role] = fill_answer(page, url, user, answers[role])
        if role == "hostile":
            shot(page, "class-student-hostile-denied")
        assignment_list(page)
        list_button(page, "fetched_assignments_list", "Submit").click()
        page.locator("#submitted_assignments_list .list_item").first.wait_for(timeout=60_000)
    shot(pages["hostile"], "class-student-submitted")
    phase(t0, '3 submitted')

    # in their own kernel, the hostile student read nothing of a classmate and wrote nothing
    text = outputs_text(notebooks["hostile"], "kv_bytes") + outputs_text(notebooks["hostile"], "test_kv_bytes")
    assert "DENIED" in text and "READ" not in text and "WROTE" not in text, text
    assert "Error" not in outputs_text(notebooks["right"], "test_kv_bytes"), notebooks["right"]
    # ... nor through Jupyter: a classmate's server answers 403, a link out of one's home leads nowhere
    victim = names["right"]
    eve = pages["hostile"]
    own = api_get(eve, f"/user/{names['hostile']}/api/contents/{LAB}/{LAB}.ipynb")
    mine = f'"path": "{LAB}/{LAB}.ipynb"'
    assert own["status"] == 200 and mine in own["body"], own  # the same request on one's own file works
    other = api_get(eve, f"/user/{victim}/api/contents/{LAB}/{LAB}.ipynb")
    assert other["status"] in (403, 404) and mine not in other["body"], other
    eve_home = pwd.getpwnam(names["hostile"])
    for link, target in (("peek", f"{exchange}/mlsys/inbound/{victim}"), ("peek-home", f"/home/{victim}/{LAB}")):
        os.symlink(target, Path(eve_home.pw_dir) / link)  # what the student could make in a terminal
        os.lchown(Path(eve_home.pw_dir) / link, eve_home.pw_uid, eve_home.pw_gid)
        res = api_get(eve, f"/user/{names['hostile']}/api/contents/{link}?content=1")
        assert res["status"] != 200 or LAB not in res["body"], res

    # the instructor: collect, autograde each submission, generate and release feedback
    prof.goto(f"{url}/user/{inst}/formgrader/manage_assignments")
    prof.wait_for_selector(f"{row} td.collect a", timeout=60_000)
    formgrader_click(prof, f"{row} td.collect a")
    prof.goto(f"{url}/user/{inst}/formgrader/manage_submissions/{LAB}")
    for role in answers:
        sub = f"tr:has(td.student-id:has-text('{names[role]}'))"
        prof.wait_for_selector(f"{sub} td.autograde a", timeout=60_000)
        formgrader_click(prof, f"{sub} td.autograde a")
    prof.reload()
    phase(t0, 'autograded')
    prof.wait_for_selector("tbody tr td.score", timeout=60_000)
    prof.wait_for_timeout(500)
    shot(prof, "class-instructor-autograded")
    prof.goto(f"{url}/user/{inst}/formgrader/manage_assignments")
    prof.wait_for_selector(f"{row} td.generate-feedback a", timeout=60_000)
    formgrader_click(prof, f"{row} td.generate-feedback a")
    formgrader_click(prof, f"{row} td.release-feedback a")

    # the grades, as the judge gave them
    phase(t0, 'feedback released')
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{folder / 'course' / 'gradebook.db'}") as gb:
        scores = {role: gb.find_grade("test_kv_bytes", LAB, LAB, names[role]).score for role in answers}
    assert scores == {"right": 2.0, "wrong": 0.0, "hostile": 0.0}, scores

    # each student fetches their feedback: their own, no one else's
    for role in answers:
        page, user = pages[role], names[role]
        assignment_list(page)
        list_button(page, "submitted_assignments_list", "Fetch Feedback").click()
        page.wait_for_timeout(1500)
        if role == "right":
            shot(page, "class-student-feedback-fetched")
        home = Path(pwd.getpwnam(user).pw_dir)
        html = glob.glob(str(home / LAB / "feedback" / "*" / f"{LAB}.html"))
        assert len(html) == 1, (user, html)
        body = Path(html[0]).read_text()
        assert f"{user}'s answer" in body, user
        assert not [n for r, n in names.items() if r != role and f"{n}'s answer" in body], user
        listed = api_get(page, f"/user/{user}/api/contents/{LAB}/feedback")
        assert listed["status"] == 200, listed
        if role == "right":
            page.goto(f"{url}/user/{user}/files/{LAB}/feedback/{Path(html[0]).parent.name}/{LAB}.html")
            page.get_by_text("kv_bytes_per_token").first.wait_for(timeout=30_000)
            shot(page, "class-student-feedback")
    duration = time.time() - t0
    print(f"class test: {duration:.0f} s after the hub started")


def test_stopping_the_class_keeps_the_course_the_grades_and_the_exchange(klass):
    """``mlsys-grade class stop`` (make class-stop) after the class above: the hub, the proxy and
    every process of the class's accounts stop; the gradebook, the submissions and the accounts
    stay (``class start`` runs the same class again)."""
    from nbgrader.api import Gradebook

    folder, names = klass["folder"], klass["names"]
    res = subprocess.run([str(BIN / "mlsys-grade"), "class", "stop", "--dir", str(folder)], capture_output=True,
                         text=True, timeout=150)
    assert res.returncode == 0 and f"stopped the class in {folder}" in res.stdout, res.stdout + res.stderr
    assert klass["proc"].wait(30) == 0
    uids = {pwd.getpwnam(n).pw_uid for n in names.values()}  # the accounts stay
    assert not [p for p in psutil.process_iter(["uids"]) if p.info["uids"] and p.info["uids"].real in uids]
    with Gradebook(f"sqlite:///{folder / 'course' / 'gradebook.db'}") as gb:
        assert {s.student.id for s in gb.assignment_submissions(LAB)} == {
            names[r] for r in ("right", "wrong", "hostile")}
    for role in ("right", "wrong", "hostile"):
        assert list((folder / "exchange" / "mlsys" / "inbound" / names[role]).glob(f"{names[role]}+{LAB}+*"))
    res = subprocess.run([str(BIN / "mlsys-grade"), "class", "stop", "--dir", str(folder)], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0 and "no class is running" in res.stdout
