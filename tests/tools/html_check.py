#!/usr/bin/env python3
"""kiln bench --report: one self-contained HTML file (no script, no external resource) that headless Chromium
renders without console errors into a screenshot that is not blank. Skips (77) when chromium is not installed
(scripts/install_deps.sh installs Debian's chromium).

usage: html_check.py KILN WORKDIR"""
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures

kiln, work = sys.argv[1:3]
browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
if not browser:
    print("SKIP: chromium is not installed (scripts/install_deps.sh installs it)")
    sys.exit(77)
try:
    from PIL import Image
except ImportError:
    print("SKIP: PIL is not installed")
    sys.exit(77)
paths = fixtures.ensure(work)
html = os.path.join(work, "report.html")
png = os.path.join(work, "report.png")
failures = 0


def check(ok, what, extra=""):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok and extra:
        print(extra)
    failures += not ok


r = subprocess.run([kiln, "bench", paths["tiny"], "--iterations", "50", "--duration", "0", "--warmUp", "0",
                    "--report", html, "--quiet"], capture_output=True, text=True)
check(r.returncode == 0 and os.path.exists(html), "bench --report writes the page", r.stderr)
page = open(html, encoding="utf-8").read()
check(page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>"), "a complete HTML document")
check(re.search(r"<script|javascript:|\bon[a-z]+\s*=", page, re.I) is None, "no script at all")
external = [u for u in re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", page) + re.findall(r"url\(([^)]+)\)", page)]
check(not external, "no external resource (src/href/url())", str(external))
check(page.count("<svg") == 2 and "Latency histogram" in page and "sorted by time" in page,
      "summary, latency histogram, per-layer chart")
check("conv2d_1 + batch_normalization_1 + re_lu_1" in page, "fused layer names in the chart")

if os.path.exists(png):
    os.remove(png)
env = dict(os.environ, HOME=work)  # chromium writes its profile under $HOME
r = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                    "--user-data-dir=" + os.path.join(work, "chromium-profile"), "--enable-logging=stderr", "--v=0",
                    "--window-size=1100,1400", "--screenshot=" + png, "file://" + os.path.abspath(html)],
                   capture_output=True, text=True, timeout=120, env=env)
check(r.returncode == 0 and os.path.exists(png), "headless chromium rendered a screenshot", r.stderr[-2000:])
console = [l for l in r.stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l or "ERR_FILE_NOT_FOUND" in l]
check(not console, "no console messages or page errors", "\n".join(console))
if os.path.exists(png):
    img = Image.open(png).convert("L")
    hist = img.histogram()
    total = img.size[0] * img.size[1]
    ink = total - sum(hist[245:])  # pixels darker than near-white
    import numpy as np
    rgb = np.asarray(Image.open(png).convert("RGB")).astype(int)
    blue = int(((rgb[..., 2] > 150) & (rgb[..., 0] < 120)).sum())  # the bars
    print(f"screenshot {img.size[0]}x{img.size[1]}: {ink} non-white pixels, {blue} bar-blue pixels")
    check(ink > 0.02 * total, "the screenshot is not blank (> 2% non-white pixels)")
    check(blue > 2000, "the bar charts are drawn (bar-blue pixels present)")
print(f"html_check: {failures} failures")
sys.exit(1 if failures else 0)
