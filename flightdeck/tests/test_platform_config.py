"""The platform config file: documented defaults, and errors (exit 2) that name the field."""

import subprocess
import sys
from pathlib import Path

import pytest

from flightdeck.core.errors import ConfigError
from flightdeck.local.config import load_platform_config

pytestmark = pytest.mark.unit


def test_defaults_are_the_documents_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    config = load_platform_config(None, tmp_path)
    assert config.ports.https == 8443
    assert config.ports.http == 8080
    assert config.ports.prometheus == 9090
    assert config.ports.alertmanager == 9093
    assert config.monitoring.scrape_interval_seconds == 15
    assert config.monitoring.retention == "15d"
    assert config.rate_limit.requests_per_second == 20
    assert config.rate_limit.burst == 40
    assert config.backend.replicas == 2
    assert config.run_dir == (tmp_path / ".flightdeck").resolve()
    assert config.embedded_database


def test_mongodb_uri_from_the_environment_replaces_the_embedded_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://db.example:27017/")
    config = load_platform_config(None, tmp_path)
    assert not config.embedded_database
    assert config.mongodb_uri == "mongodb://db.example:27017/"


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("ports:\n  https: 70000\n", "ports.https"),
        ("ports:\n  htps: 8443\n", "ports.htps"),
        ("backend:\n  replicas: zero\n", "backend.replicas"),
        ("backend:\n  replicas: 0\n", "backend.replicas"),
        ("rate_limit:\n  requests_per_second: -1\n", "rate_limit.requests_per_second"),
        ("monitoring:\n  retention: forever\n", "monitoring.retention"),
        ("database:\n  uri: postgres://x\n", "database.uri"),
        ("ports:\n  https: 9090\n", "ports.prometheus and ports.https are both 9090"),
        ("tls:\n  renew_before_days: 200\n", "renew_before_days"),
    ],
)
def test_bad_values_name_the_field(tmp_path: Path, content: str, field: str) -> None:
    path = tmp_path / "flightdeck.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_platform_config(path, tmp_path)


def test_the_cli_exits_2_and_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "flightdeck.yaml"
    path.write_text("ports:\n  https: not-a-port\n")
    result = subprocess.run(
        [sys.executable, "-m", "flightdeck", "up", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "ports.https" in result.stderr
    assert str(path) in result.stderr


def test_yaml_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "flightdeck.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_platform_config(path, tmp_path)
