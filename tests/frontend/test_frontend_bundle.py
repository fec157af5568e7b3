"""The initial JavaScript of the built frontend stays within its budget (150 KiB gzip).

A size, not a time, so it is checked on every `make test`: the scripts that index.html loads
(the entry module and the modules it preloads), compressed as the ingress compresses them
(gzip level 6). benchmarks/frontend measures the same in the browser, through the platform.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "app" / "frontend" / "dist"
BUDGET_BYTES = 150 * 1024
# The ingress's and the container's gzip_comp_level (app/frontend/nginx/app.conf).
NGINX_GZIP_LEVEL = 6


def initial_scripts(index_html: str) -> list[str]:
    entry = re.findall(r'<script type="module"[^>]* src="([^"]+)"', index_html)
    preloaded = re.findall(r'<link rel="modulepreload"[^>]* href="([^"]+)"', index_html)
    return entry + preloaded


def test_initial_javascript_is_within_budget() -> None:
    index = DIST / "index.html"
    assert index.exists(), "app/frontend/dist is missing: run make setup"
    scripts = initial_scripts(index.read_text())
    assert scripts, "index.html loads no script"
    assert (
        f"gzip_comp_level {NGINX_GZIP_LEVEL};"
        in (ROOT / "app" / "frontend" / "nginx" / "app.conf").read_text()
    )
    sizes = {
        script: len(
            gzip.compress((DIST / script.lstrip("/")).read_bytes(), compresslevel=NGINX_GZIP_LEVEL)
        )
        for script in scripts
    }
    total = sum(sizes.values())
    assert total < BUDGET_BYTES, f"initial JavaScript {total} bytes gzip > 150 KiB: {sizes}"


def test_the_budget_check_sees_every_initial_script() -> None:
    html = (
        '<script type="module" crossorigin src="/assets/index-a.js"></script>'
        '<link rel="modulepreload" crossorigin href="/assets/vendor-b.js">'
    )
    assert initial_scripts(html) == ["/assets/index-a.js", "/assets/vendor-b.js"]
