"""Fixtures for the browser tests: one JupyterLab server and one headless Chromium per session."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from jlab import BIN, CHROMIUM, CHROMIUM_ARGS, pristine_release, scratch_root, start_lab  # noqa: E402


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    root = scratch_root(tmp_path_factory.mktemp("jlab"))
    # the browser tests walk lab 0 (each file's LAB); releasing all thirteen labs cost a minute per worker
    res = subprocess.run([str(BIN / "mlsys-grade"), "release", "lab0-costs", "--course", str(root / "labs")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    shutil.copytree(root / "labs" / "release", pristine_release(root))
    server = start_lab(root)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"browser tests need Debian's chromium at {CHROMIUM}: apt-get install chromium "
                    "(make test runs them only when it is there; make test-browser always)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    yield pg
    context.close()
