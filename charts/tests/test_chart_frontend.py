"""The chart's frontend Deployment runs the image app/frontend/Dockerfile builds, as it is built.

The port, the user, the writable paths and the probes of the Deployment must agree with the
Dockerfile and the container's nginx.conf; a change to one side without the other fails here.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from testsupport.helmchart import ROOT, Rendered, container, pod_spec

pytestmark = pytest.mark.unit

FRONTEND = ROOT / "app" / "frontend"
Render = Callable[[str], Rendered]


def test_the_deployment_matches_the_dockerfile_and_nginx_conf(rendered: Render) -> None:
    dockerfile = (FRONTEND / "Dockerfile").read_text()
    nginx_conf = (FRONTEND / "nginx" / "nginx.conf").read_text()
    deployment = rendered("default").get("Deployment", "frontend")
    c = container(deployment, "frontend")
    pod = pod_spec(deployment)

    assert c["image"].startswith("ghcr.io/flightdeck/frontend:")
    assert "ghcr.io/flightdeck/frontend" in dockerfile  # the build command names that image

    exposed = re.search(r"^EXPOSE (\d+)$", dockerfile, re.MULTILINE)
    listened = re.search(r"^\s*listen (\d+);$", nginx_conf, re.MULTILINE)
    assert exposed
    assert listened
    assert c["ports"][0]["containerPort"] == int(exposed.group(1)) == int(listened.group(1))

    user = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE)
    assert user
    assert pod["securityContext"]["runAsUser"] == int(user.group(1))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True

    # Every path nginx writes (pid, temporary files) is on a mounted emptyDir.
    written = re.findall(r"^\s*(?:pid|\w+_temp_path) (/[^;]+);$", nginx_conf, re.MULTILINE)
    assert len(written) == 6
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    mounts = [m["mountPath"] for m in c["volumeMounts"] if m["name"] in empty_dirs]
    for path in written:
        assert any(path.startswith(mount.rstrip("/") + "/") for mount in mounts), path


def test_the_probes_get_the_page_nginx_serves(rendered: Render) -> None:
    c = container(rendered("default").get("Deployment", "frontend"), "frontend")
    for probe, period in (("livenessProbe", 30), ("readinessProbe", 10)):
        assert c[probe]["httpGet"] == {"path": "/", "port": "http"}
        assert c[probe]["periodSeconds"] == period
    # The probes are not logged (kube-probe user agent), so they do not drown the access log.
    assert "kube-probe/" in (FRONTEND / "nginx" / "nginx.conf").read_text()
