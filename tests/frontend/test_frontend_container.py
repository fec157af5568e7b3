"""The frontend container's nginx configuration, run by a real nginx, and its Dockerfile.

No Docker engine runs here, so the image is not built. Instead the container's own nginx.conf
runs with only its paths moved into a temporary directory, as an unprivileged user, with the
app and the configuration read-only and only the "/tmp" directory writable, as the chart runs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from flightdeck.local.ingress import nginx_executable
from testsupport.ports import free_port, wait_for_port
from testsupport.processes import stop_process

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "app" / "frontend"
NOBODY = 65534


@dataclass
class ContainerNginx:
    url: str
    access_log: Path
    index: str
    script: str


def moved(config: str, paths: dict[str, str]) -> str:
    """The config with each container path replaced in one pass; each must occur."""
    for old in paths:
        assert old in config, f"nginx.conf no longer mentions {old}: update this test"
    pattern = re.compile("|".join(re.escape(old) for old in paths))
    return pattern.sub(lambda match: paths[match.group(0)], config)


def read_only(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        item.chmod(0o555 if item.is_dir() else 0o444)


@pytest.fixture(scope="module")
def container_nginx() -> Iterator[ContainerNginx]:
    dist = FRONTEND / "dist"
    assert (dist / "index.html").exists(), "app/frontend/dist is missing: run make setup"
    # Not under pytest's tmp_path: its parents are private to root, and nginx runs as nobody.
    base = Path(tempfile.mkdtemp(prefix="frontend-container-"))
    base.chmod(0o755)
    html, conf, writable = base / "html", base / "nginx", base / "tmp"
    shutil.copytree(dist, html)
    shutil.copytree(FRONTEND / "nginx", conf)
    writable.mkdir()
    port = free_port()
    config = moved(
        (FRONTEND / "nginx" / "nginx.conf").read_text(),
        {
            "/usr/share/nginx/html": str(html),
            "/etc/nginx/flightdeck/": f"{conf}/",
            "/tmp/": f"{writable}/",
            "listen 8080;": f"listen 127.0.0.1:{port};",
        },
    )
    (conf / "nginx.conf").write_text(config)
    read_only(html)
    read_only(conf)
    command = [nginx_executable(), "-p", str(writable), "-c", str(conf / "nginx.conf")]
    command += ["-g", "daemon off;"]
    # nginx logs to /dev/stdout and /dev/stderr, reopened by path: files here, as the pipes of
    # the container runtime there.
    access_log, error_log = base / "access.log", base / "error.log"
    access_log.touch()
    error_log.touch()
    if os.geteuid() == 0:
        # As the container: an unprivileged user that may write only the temporary directory.
        for writable_by_nginx in (writable, access_log, error_log):
            os.chown(writable_by_nginx, NOBODY, NOBODY)
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]
    with access_log.open("ab") as stdout, error_log.open("ab") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
    try:
        try:
            wait_for_port(port, timeout=10)
        except TimeoutError:
            stop_process(process)
            raise AssertionError(f"nginx did not start: {error_log.read_text()}") from None
        index = (dist / "index.html").read_text()
        script = re.search(r'src="(/assets/[^"]+\.js)"', index)
        assert script, "dist/index.html loads no hashed script"
        yield ContainerNginx(f"http://127.0.0.1:{port}", access_log, index, script.group(1))
    finally:
        stop_process(process)
        for item in [base, *base.rglob("*")]:
            if item.is_dir():
                item.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_index_is_served_uncached_with_security_headers(container_nginx: ContainerNginx) -> None:
    response = httpx.get(f"{container_nginx.url}/")
    assert response.status_code == 200
    assert response.text == container_nginx.index
    headers = response.headers
    assert headers["cache-control"] == "no-cache"
    csp = headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "object-src 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["server"] == "nginx"  # server_tokens off: no version


def test_client_side_routes_fall_back_to_index(container_nginx: ContainerNginx) -> None:
    response = httpx.get(f"{container_nginx.url}/notes/some/route?x=1")
    assert response.status_code == 200
    assert response.text == container_nginx.index


def test_hashed_assets_are_cached_for_a_year_and_gzipped(container_nginx: ContainerNginx) -> None:
    response = httpx.get(
        f"{container_nginx.url}{container_nginx.script}", headers={"Accept-Encoding": "gzip"}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "max-age=31536000"
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["content-type"] == "application/javascript"
    # The nested location keeps the security headers.
    assert "content-security-policy" in response.headers
    on_disk = (FRONTEND / "dist" / container_nginx.script.lstrip("/")).read_bytes()
    assert response.content == on_disk  # httpx decoded the gzip body
    assert response.num_bytes_downloaded < len(on_disk) / 2


def test_a_missing_asset_is_a_404_not_index(container_nginx: ContainerNginx) -> None:
    response = httpx.get(f"{container_nginx.url}/assets/index-0000.js")
    assert response.status_code == 404
    assert container_nginx.index not in response.text


def test_requests_are_logged_as_json_except_the_probes(container_nginx: ContainerNginx) -> None:
    httpx.get(f"{container_nginx.url}/", headers={"User-Agent": "kube-probe/1.28"})
    httpx.get(f"{container_nginx.url}/", headers={"X-Request-ID": "frontend-log-check"})
    entries = [json.loads(line) for line in container_nginx.access_log.read_text().splitlines()]
    assert any(e["request_id"] == "frontend-log-check" and e["status"] == 200 for e in entries)
    assert not any(e["user_agent"].startswith("kube-probe/") for e in entries)


def test_the_dockerfile_pins_its_bases_and_runs_unprivileged() -> None:
    dockerfile = (FRONTEND / "Dockerfile").read_text()
    images = re.findall(r"^ARG \w+_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert len(images) == 2
    for image in images:
        assert re.search(r":\d+\.\d+\.\d+", image), f"{image} is not pinned to an exact version"
    assert re.search(r"^USER 10001:10001$", dockerfile, re.MULTILINE)
    assert re.search(r"^EXPOSE 8080$", dockerfile, re.MULTILINE)
    assert "listen 8080;" in (FRONTEND / "nginx" / "nginx.conf").read_text()
    # Everything the build copies exists, and the build context (.dockerignore) lets it in.
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (FRONTEND / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.MULTILINE):
        for path in source.split():
            assert (FRONTEND / path).exists(), f"the Dockerfile copies {path}, which is missing"
            assert path.split("/")[0] in allowed, f".dockerignore keeps {path} out of the build"
