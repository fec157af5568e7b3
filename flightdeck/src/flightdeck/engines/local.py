"""The local engine: the platform on one machine, assembled from its infrastructure and families.

This is the composition root of the local engine, the only code that knows both the
infrastructure (`flightdeck.local`) and the provider families that run on it: the nginx
TrafficRouter, the supervisord Workloads, the file StateStore, Prometheus as MetricsProvider.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from flightdeck.core.errors import ConfigError
from flightdeck.core.tracks import Track, TrackSpec
from flightdeck.engines import engines, rollout_states
from flightdeck.local.backup import write_backup_env
from flightdeck.local.components import OPTIONAL_COMPONENTS, PlatformComponents, step
from flightdeck.local.context import LocalContext, load_local_context
from flightdeck.local.frontend import find_frontend, install_frontend
from flightdeck.local.ingress import NGINX_GROUP, SMOKE_TOKEN_HEADER, smoke_token
from flightdeck.local.monitoring import write_monitoring_configs
from flightdeck.local.tls import TlsFiles, ensure_certificate
from flightdeck.metrics.prometheus import PrometheusProvider
from flightdeck.notify import incident_sink_for, notifier_for
from flightdeck.rollout.smoke import SmokeResult, run_smoke_tests
from flightdeck.rollout.target import Target
from flightdeck.routers.nginx import LocalNginxRouter
from flightdeck.state import StateStore
from flightdeck.state.file import FileStateStore
from flightdeck.workloads.supervisor import SupervisorWorkloads


class LocalPlatform(PlatformComponents):
    """`flightdeck up | down | status`: every component, then the backend and its routing.

    `up()` is idempotent: it rewrites every configuration, lets supervisord restart only what
    changed, reloads the rest gracefully, and waits until each component answers its readiness
    check.
    """

    def __init__(self, context: LocalContext) -> None:
        super().__init__(context)
        self.router = LocalNginxRouter(context)
        self.workloads = SupervisorWorkloads(context)

    def up(self) -> None:
        self.run_dir.create()
        with step("certificate from the local CA"):
            ensure_certificate(
                TlsFiles(self.run_dir.tls),
                self.config.tls.server_name,
                self.config.tls.certificate_days,
                self.config.tls.renew_before_days,
            )
        self.check_ports_free()
        programs = self.programs()
        write_monitoring_configs(self.context)
        self.supervisor.write_main_config()
        was_running = self.supervisor.is_running()
        for name in OPTIONAL_COMPONENTS:
            if name not in programs:
                self.supervisor.remove_group(name)
        write_backup_env(self.context)
        for name in ("database", "azurite", "prometheus", "alertmanager", "receiver"):
            if name in programs:
                self.supervisor.write_group(name, [programs[name]])
        with step("supervisord"):
            self.supervisor.start_daemon()
            self.supervisor.update()
        checks = self.checks()
        if "database" in checks:
            with step("database (FerretDB)"):
                self.wait("database", checks["database"])
        with step(f"backend stable track ({self.config.backend.replicas} replicas)"):
            # The stable version is the config's only at first: after a promotion, the running
            # version is the stable one, and `up` must not roll it back.
            running = self.workloads.get("stable")
            self.workloads.apply(
                TrackSpec(
                    "stable",
                    running.version if running else self.config.backend.version,
                    self.config.backend.replicas,
                    running.env if running else {},
                )
            )
            self.workloads.wait_ready("stable", self.config.ready_timeout_seconds)
        install_frontend(self.run_dir, find_frontend())
        with step("nginx ingress"):
            generation = self.router.write(self.router.current())
            self.supervisor.write_group(NGINX_GROUP, [programs[NGINX_GROUP]])
            self.supervisor.update()
            if self.supervisor.process(NGINX_GROUP, NGINX_GROUP) is not None:
                self.supervisor.signal(NGINX_GROUP, NGINX_GROUP, "HUP")
            self.wait(
                NGINX_GROUP, lambda: (self.ingress.served_generation() == generation, "reload")
            )
        if was_running:
            for name in ("prometheus", "alertmanager"):
                self.supervisor.signal(name, name, "HUP")
        for name in ("prometheus", "alertmanager", "receiver", "azurite"):
            if name in checks:
                with step(name):
                    self.wait(name, checks[name])
        if "backup-scheduler" in programs:
            with step(f"backup schedule ({self.config.backup.schedule})"):
                self.supervisor.write_group("backup-scheduler", [programs["backup-scheduler"]])
                self.supervisor.update()
                self.wait("backup-scheduler", checks["backup-scheduler"])


@engines.register("local")
def local_target(config_path: Path | None) -> Target:
    """A rollout on the local platform (which must be up)."""
    context = load_local_context(config_path)
    config, run_dir = context.config, context.run_dir
    if not (run_dir.state / "tracks.json").exists():
        raise ConfigError(
            f"the local platform is not up (no {run_dir.state / 'tracks.json'}): run `make up`"
        )
    verify = ssl.create_default_context(cafile=str(run_dir.tls / "ca.crt"))
    routes: dict[Track, dict[str, str]] = {"canary": {config.canary.header: "always"}}

    def smoke(track: Track, version: str, timeout: float) -> list[SmokeResult]:
        if track not in routes:
            raise ConfigError(f"the local ingress has no route to smoke-test track {track!r}")
        return run_smoke_tests(
            f"https://localhost:{config.ports.https}",
            verify,
            version,
            track=track,
            timeout=timeout,
            headers={**routes[track], SMOKE_TOKEN_HEADER: smoke_token(context)},
        )

    return Target(
        router=LocalNginxRouter(context),
        workloads=SupervisorWorkloads(context),
        metrics=PrometheusProvider(f"http://127.0.0.1:{config.ports.prometheus}"),
        state=FileStateStore(run_dir.state / "rollouts"),
        smoke=smoke,
        notifier=notifier_for,
        incidents=lambda notifications: incident_sink_for(notifications, run_dir.incidents),
        metrics_dir=run_dir.metrics,
    )


@rollout_states.register("local")
def local_rollout_state(config_path: Path | None) -> StateStore:
    """The rollout records of the local platform (in its run directory)."""
    return FileStateStore(load_local_context(config_path).run_dir.state / "rollouts")
