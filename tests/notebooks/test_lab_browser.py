"""A notebook in JupyterLab, as a user runs it: ``jupyter lab`` from this environment serves a copy
of notebook 00 (smoke profile, temporary folders), headless chromium (driven by Selenium and
Debian's chromium-driver) opens it, runs every cell through the UI's command Run All Cells, waits
for the kernel to go idle, and checks that no cell shows an error, that a figure is rendered
inline, and that the kernel is this environment's Python (the notebooks' kernelspec ``python3``).
A screenshot is kept under the test's tmp folder and copied to ``out/test-artifacts/``.

Needs Debian's chromium and chromium-driver (``make chromium``) and selenium (the dev extra).
Skips without them, except on CI (``CI`` set), where it must run."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest

from afkit.report import notebook
from afkit.report.browser import find_chromium

pytestmark = pytest.mark.slow

NOTEBOOK = "00_data.ipynb"
WAIT_S = 180
ARTIFACTS = notebook.REPO / "out" / "test-artifacts"


def _missing() -> str | None:
    if find_chromium() is None:
        return (
            "chromium is not installed (apt-get install -y chromium chromium-driver; make chromium)"
        )
    if shutil.which("chromedriver") is None:
        return "chromedriver is not installed (apt-get install -y chromium-driver; make chromium)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


if _missing():
    if os.environ.get("CI"):
        raise RuntimeError(
            f"CI is set but {_missing()}: the JupyterLab browser test must run on CI"
        )
    pytest.skip(f"{_missing()}; the JupyterLab browser test runs on CI", allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """``jupyter lab`` on a free localhost port over a folder holding a copy of notebook 00 whose
    parameters point at temporary folders; yields (base url, root dir, server log); always
    stops the server."""
    root = tmp_path_factory.mktemp("lab")
    work = root / "notebooks"
    work.mkdir()
    nb = nbformat.read(notebook.NOTEBOOKS_DIR / NOTEBOOK, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source += (
        f"\ndata_dir = {str(root / 'data')!r}\nstore_dir = {str(root / 'stores')!r}"
        f"\nout_dir = {str(root / 'out')!r}"
    )
    probe = nbformat.v4.new_code_cell("import sys; print('KERNEL-PREFIX', sys.prefix)")
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        probe.pop("id", None)  # cell ids came with nbformat 4.5
    nb.cells.append(probe)
    nbformat.write(nb, work / NOTEBOOK)
    notebook.ensure_data(root / "data", "smoke", 0)  # the data a user has (generated beforehand)
    settings = root / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    # every cell in the DOM (no virtual scrolling), so that each output can be inspected
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    news = root / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    port = _free_port()
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(notebook.REPO), os.environ.get("PYTHONPATH")])
        ),
        JUPYTER_CONFIG_DIR=str(root / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
    )
    log = open(root / "jupyter-lab.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--port={port}",
            "--ip=127.0.0.1",
            "--ServerApp.port_retries=0",
            "--allow-root",
            "--ServerApp.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            f"--ServerApp.root_dir={work}",
            f"--LabApp.user_settings_dir={root / 'settings'}",
            f"--LabApp.workspaces_dir={root / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=str(work),
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                _get_json(f"{base}/api/status")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"jupyter lab did not start: {(root / 'jupyter-lab.log').read_text()[-2000:]}"
                    )
                time.sleep(0.5)
        yield base, root, root / "jupyter-lab.log"
    finally:
        for sig, wait in ((15, 20), (9, None)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = find_chromium()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver, script: str, what: str, timeout: float = WAIT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(f"waited {timeout:g} s for {what}")


# the open notebook panel and its state, from JupyterLab's own objects (window.jupyterapp)
PANEL = "var p = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
STATE = (
    PANEL
    + """
if (!p || !p.sessionContext || !p.content || !p.content.model) return null;
var k = p.sessionContext.session && p.sessionContext.session.kernel;
var cells = [];
for (var i = 0; i < p.content.model.cells.length; i++) {
  var c = p.content.model.cells.get(i);
  if (c.type !== 'code') continue;
  var outs = [];
  for (var j = 0; j < c.outputs.length; j++) outs.push(c.outputs.get(j).type);
  cells.push({count: c.executionCount, outputs: outs});
}
return {kernel: k ? k.status : null, name: k ? k.name : null, cells: cells};
"""
)


@pytest.fixture(scope="module")
def ran(lab, browser):
    """Opens the notebook, runs all cells through the UI, waits for the kernel to go idle with
    every code cell executed; returns (state, screenshot path)."""
    base, root, server_log = lab
    browser.set_page_load_timeout(WAIT_S)
    browser.get(f"{base}/lab/tree/{NOTEBOOK}")
    _wait(
        browser,
        STATE.replace("return {", "if (!k || k.status !== 'idle') return null; return {"),
        "the notebook to open with an idle kernel",
    )
    browser.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
    _wait(
        browser,
        STATE + "\nreturn cells.some(function (c) { return c.count === null; }) ? null : true;",
        "the first cell to start",
    )  # every cell gets a count (or '*') once queued
    state = _wait(
        browser,
        STATE.replace(
            "return {",
            "if (!k || k.status !== 'idle' || cells.some(function (c) { return c.count === null; })) return null;"
            " return {",
        ),
        "every cell to run and the kernel to go idle",
    )
    time.sleep(1.0)  # let the last outputs render
    shot = root / "jupyterlab-00_data.png"
    browser.save_screenshot(str(shot))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy2(shot, ARTIFACTS / shot.name)
    return state, shot, server_log


def test_every_cell_runs_without_error(ran, browser):
    state, shot, server_log = ran
    assert state["cells"], "no code cell in the notebook"
    assert all(c["count"] for c in state["cells"]), state
    errors = [i for i, c in enumerate(state["cells"]) if "error" in c["outputs"]]
    shown = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll("
        "'.jp-OutputArea-output[data-mime-type=\"application/vnd.jupyter.error\"], .jp-OutputArea-output.jp-mod-error'),"
        " function (e) { return e.innerText.slice(0, 2000); });"
    )
    assert not errors and not shown, (errors, shown, f"screenshot: {shot}")
    text = browser.execute_script("return document.querySelector('.jp-Notebook').innerText;")
    assert "Traceback" not in text


def test_a_figure_renders_inline(ran, browser):
    imgs = browser.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll('.jp-OutputArea-output img'),"
        " function (i) { return {w: i.naturalWidth, h: i.naturalHeight, complete: i.complete}; });"
    )
    assert imgs and any(i["complete"] and i["w"] > 100 and i["h"] > 100 for i in imgs), imgs


def test_kernel_is_this_environment(ran, browser):
    state, _, _ = ran
    assert state["name"] == "python3"  # the notebooks' kernelspec
    text = browser.execute_script("return document.querySelector('.jp-Notebook').innerText;")
    assert f"KERNEL-PREFIX {sys.prefix}" in text


def test_screenshot_is_kept(ran):
    _, shot, _ = ran
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and (ARTIFACTS / shot.name).read_bytes() == data
