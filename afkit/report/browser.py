"""Headless chromium looking at the report: :func:`screenshot_report` (the first screen as a PNG)
and :func:`check_report_in_browser` (what a reader's browser loads and lays out: images, tables,
page width, visible text). :func:`find_chromium` finds the browser (``$CHROMIUM`` first).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path


def find_chromium() -> str | None:
    """Path of a chromium/chrome executable (``$CHROMIUM`` first), or None."""
    env = os.environ.get("CHROMIUM")
    if env and shutil.which(env):
        return shutil.which(env)
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


_CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
    "--hide-scrollbars",
    "--mute-audio",
)


def _chromium(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not installed (Debian: apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="afkit-chromium-") as profile:
        cmd = [exe, *_CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise TimeoutError(f"chromium did not finish within {timeout:g} s") from None
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def screenshot_report(
    html_path, png_path=None, *, window: str = "1280,900", timeout: float = 90
) -> Path:
    """Screenshot of the first screen of ``html_path`` (headless chromium) as ``png_path``
    (default ``report.png`` beside it); raises FileNotFoundError without chromium."""
    html_path = Path(html_path).resolve()
    png = Path(png_path).resolve() if png_path else html_path.with_suffix(".png")
    if png.exists():
        png.unlink()
    proc = _chromium(
        [
            f"--screenshot={png}",
            f"--window-size={window}",
            "--virtual-time-budget=5000",
            html_path.as_uri(),
        ],
        timeout,
    )
    if not png.exists() or png.stat().st_size == 0:
        raise RuntimeError(
            f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-500:]}"
        )
    return png


_CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.map.call(document.images, function (i) {
    return {src: i.getAttribute('src'), complete: i.complete, width: i.naturalWidth,
            height: i.naturalHeight};
  });
  var tables = Array.prototype.map.call(document.querySelectorAll('table'), function (t) {
    var body = t.querySelectorAll('tbody tr').length;
    var heads = Array.prototype.map.call(t.querySelectorAll('thead th'), function (h) {
      return h.innerText;
    });
    return {id: t.id, cls: t.className, rows: body, height: t.getBoundingClientRect().height,
            headers: heads, caption: t.caption ? t.caption.innerText : ''};
  });
  var figures = Array.prototype.map.call(document.querySelectorAll('figure'), function (f) {
    var c = f.querySelector('figcaption'), i = f.querySelector('img');
    return {caption: c ? c.innerText : '', alt: i ? i.getAttribute('alt') : null};
  });
  var page = {scroll_width: document.documentElement.scrollWidth, inner_width: window.innerWidth};
  var pre = document.createElement('pre');
  pre.id = 'afkit-browser-check';
  var text = document.body.innerText;
  var seen = {images: imgs, tables: tables, figures: figures, page: page, text: text};
  pre.textContent = 'AFKIT-' + 'CHECK' + JSON.stringify(seen) + 'AFKIT-' + 'END';
  document.body.appendChild(pre);
});
</script>"""


def check_report_in_browser(html_path, *, window: str = "1280,900", timeout: float = 90) -> dict:
    """Loads ``html_path`` in headless chromium (a ``window`` of that size) and reports what a
    reader's browser sees.

    Returns ``{"images": [{src, complete, width, height}], "tables": [{id, cls, rows, height,
    headers, caption}], "figures": [{caption, alt}], "page": {scroll_width, inner_width}, "text":
    the page's visible text}`` (headers and captions as rendered text) with ``width`` =
    ``naturalWidth`` (0 for an image that failed to load) and ``rows`` the number of body rows;
    ``scroll_width`` above ``inner_width`` means something widens the page. The page is loaded
    from a sibling copy with a probe script (so that relative links resolve exactly as for the
    report), which is removed afterwards.
    """
    html_path = Path(html_path).resolve()
    text = html_path.read_text()
    if "</body>" not in text:
        raise ValueError(f"{html_path} has no </body>")
    probe = html_path.with_name(f".afkit-check-{os.getpid()}-{html_path.name}")
    probe.write_text(text.replace("</body>", _CHECK_SCRIPT + "</body>", 1))
    try:
        proc = _chromium(
            [
                f"--window-size={window}",
                "--virtual-time-budget=10000",
                "--dump-dom",
                probe.as_uri(),
            ],
            timeout,
        )
    finally:
        probe.unlink(missing_ok=True)
    m = re.search(
        r'<pre id="afkit-browser-check">AFKIT-CHECK(.*?)AFKIT-END</pre>', proc.stdout, re.S
    )
    if not m:
        raise RuntimeError(
            f"the probe did not run in chromium (exit {proc.returncode}): {proc.stderr[-800:]}"
        )
    return json.loads(html.unescape(m.group(1)))
