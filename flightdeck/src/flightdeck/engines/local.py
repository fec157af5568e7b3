"""The local engine: the platform on one machine, assembled from its infrastructure and families.

This is the composition root of the local engine, the only code that knows both the
infrastructure (`flightdeck.local`) and the provider families that run on it: the nginx
TrafficRouter, the supervisord Workloads, the file StateStore, Prometheus as MetricsProvider, the
delivery history in the platform's own database (so that the backups include it), and for
`flightdeck validate` the supervisord probes of flightdeck.validate.local.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from flightdeck.core import terminal
from flightdeck.core.errors import ConfigError, FlightdeckError
from flightdeck.core.loadgen import LoadGenerator
from flightdeck.core.tracks import Track, TrackSpec
from flightdeck.engines import engines, rollout_states, validation_targets
from flightdeck.engines.receiver import DATABASE_VARIABLE, URI_VARIABLE
from flightdeck.history.mongodb import MongoHistoryStore
from flightdeck.local.backup import write_backup_env
from flightdeck.local.components import OPTIONAL_COMPONENTS, PlatformComponents, step
from flightdeck.local.context import LocalContext, load_local_context
from flightdeck.local.frontend import find_frontend, install_frontend
from flightdeck.local.ingress import NGINX_GROUP, SMOKE_TOKEN_HEADER, smoke_token
from flightdeck.local.monitoring import write_monitoring_configs
from flightdeck.local.tls import TlsFiles, ensure_certificate
from flightdeck.metrics.prometheus import PrometheusProvider
from flightdeck.notify import incident_sink_for, notifier_for
from flightdeck.rollout.kpi import refresh_delivery_metrics
from flightdeck.rollout.smoke import SmokeResult, run_smoke_tests
from flightdeck.rollout.target import SmokeTests, Target
from flightdeck.routers.nginx import LocalNginxRouter
from flightdeck.state import StateStore
from flightdeck.state.file import FileStateStore
from flightdeck.validate import ValidationTarget, serving_routes
from flightdeck.validate.local import ConfiguredReplicas, SupervisorReplicas
from flightdeck.workloads.supervisor import SupervisorWorkloads


class LocalPlatform(PlatformComponents):
    """`flightdeck up | down | status`: every component, then the backend and its routing.

    `up()` is idempotent: it rewrites every configuration, lets supervisord restart only what
    changed, reloads the rest gracefully, and waits until each component answers its readiness
    check.
    """

    receiver_module = "flightdeck.engines.receiver"

    def __init__(self, context: LocalContext) -> None:
        super().__init__(context)
        self.router = LocalNginxRouter(context)
        self.workloads = SupervisorWorkloads(context)

    def receiver_environment(self) -> dict[str, str]:
        return {URI_VARIABLE: self.config.mongodb_uri, DATABASE_VARIABLE: self.config.database.name}

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
        # The serving track is `stable` at first, a blue-green colour after a blue-green rollout;
        # its version is the config's only at first: after a promotion the running version is
        # the serving one, and `up` must not roll it back.
        serving = self.router.current().active
        with step(f"backend {serving} track ({self.config.backend.replicas} replicas)"):
            running = self.workloads.get(serving)
            self.workloads.apply(
                TrackSpec(
                    serving,
                    running.version if running else self.config.backend.version,
                    self.config.backend.replicas,
                    running.env if running else {},
                )
            )
            self.workloads.wait_ready(serving, self.config.ready_timeout_seconds)
        install_frontend(self.run_dir, find_frontend())
        with step("nginx ingress"):
            generation = self.router.write(self.router.current())
            self.supervisor.write_group(NGINX_GROUP, [programs[NGINX_GROUP]])
            self.supervisor.update()
            if self.supervisor.process(NGINX_GROUP, NGINX_GROUP) is not None:
                self.ingress.reload(generation)
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
        try:  # the delivery metrics exist (at 0) before the first rollout changes them
            refresh_delivery_metrics(local_history(self.context), self.run_dir.metrics)
        except FlightdeckError as exc:
            terminal.warning(f"delivery metrics not written (the history is unreachable): {exc}")


def local_history(context: LocalContext) -> MongoHistoryStore:
    """The delivery history: a collection of the platform's database (docs/architecture.md)."""
    return MongoHistoryStore(context.config.mongodb_uri, context.config.database.name)


def _running_platform(config_path: Path | None) -> LocalContext:
    """The context of a platform that is up; a ConfigError says to run `make up` otherwise."""
    context = load_local_context(config_path)
    tracks = context.run_dir.state / "tracks.json"
    if not tracks.exists():
        raise ConfigError(f"the local platform is not up (no {tracks}): run `make up`")
    return context


Route = Callable[[Track], tuple[str, Mapping[str, str]]]
"""Where a track answers: the base URL and the headers that reach it."""
PREVIEW_LOAD_RATE = 20.0
"""Requests per second on the preview route during a pre-switch analysis."""


def _verify(context: LocalContext) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(context.run_dir.tls / "ca.crt"))


def _rollout_route(context: LocalContext, router: LocalNginxRouter) -> Route:
    """A rollout's new version apart from user traffic: the canary header, or the preview."""
    config = context.config

    def route(track: Track) -> tuple[str, Mapping[str, str]]:
        if track == "canary":
            return f"https://localhost:{config.ports.https}", {config.canary.header: "always"}
        if track == router.current().preview:
            return f"https://localhost:{config.ports.preview}", {}
        raise ConfigError(f"the local ingress has no route to the {track} track now")

    return route


def _serving_route(context: LocalContext) -> Route:
    """Each serving track through the public ingress (validate: never or always the canary)."""
    routes = serving_routes(context.config.canary.header)
    return lambda track: (f"https://localhost:{context.config.ports.https}", routes[track])


def _ingress_smoke(context: LocalContext, route: Route) -> SmokeTests:
    """The smoke tests through the local ingress, on the route each track has."""
    verify = _verify(context)

    def smoke(track: Track, version: str, timeout: float) -> list[SmokeResult]:
        base_url, headers = route(track)
        return run_smoke_tests(
            base_url,
            verify,
            version,
            track=track,
            timeout=timeout,
            headers={**headers, SMOKE_TOKEN_HEADER: smoke_token(context)},
        )

    return smoke


def _prometheus(context: LocalContext) -> PrometheusProvider:
    return PrometheusProvider(f"http://127.0.0.1:{context.config.ports.prometheus}")


@engines.register("local")
def local_target(config_path: Path | None) -> Target:
    """A rollout on the local platform (which must be up)."""
    context = _running_platform(config_path)
    run_dir, router = context.run_dir, LocalNginxRouter(context)
    route = _rollout_route(context, router)

    def preview_load(track: Track, seconds: float) -> None:
        base_url, headers = route(track)
        with LoadGenerator(
            base_url, _verify(context), rate=PREVIEW_LOAD_RATE, headers=dict(headers)
        ):
            time.sleep(seconds)

    return Target(
        router=router,
        workloads=SupervisorWorkloads(context),
        metrics=_prometheus(context),
        state=FileStateStore(run_dir.state / "rollouts"),
        smoke=_ingress_smoke(context, route),
        notifier=notifier_for,
        incidents=lambda notifications: incident_sink_for(notifications, run_dir.incidents),
        metrics_dir=run_dir.metrics,
        preview_load=preview_load,
        history=local_history(context),
    )


@validation_targets.register("local")
def local_validation_target(config_path: Path | None) -> ValidationTarget:
    """`flightdeck validate` on the local platform (which must be up)."""
    context = _running_platform(config_path)
    return ValidationTarget(
        engine="local",
        router=LocalNginxRouter(context),
        workloads=SupervisorWorkloads(context),
        replicas=SupervisorReplicas(context),
        scaling=ConfiguredReplicas(context),
        metrics=_prometheus(context),
        smoke=_ingress_smoke(context, _serving_route(context)),
    )


@rollout_states.register("local")
def local_rollout_state(config_path: Path | None) -> StateStore:
    """The rollout records of the local platform (in its run directory)."""
    return FileStateStore(load_local_context(config_path).run_dir.state / "rollouts")
