"""The local Workloads: backend replicas as uvicorn processes under supervisord.

Each replica is its own supervisord group (`backend-<track>-<n>`) on its own free port, so that a
replica can be replaced without touching the others. Every replica shares UPLOAD_DIR, like the
ReadWriteMany volume in Kubernetes. Prometheus discovers the replicas from a file_sd target file
that is rewritten whenever a track changes, labelled with track and version.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request

from flightdeck.core.errors import RetryableError
from flightdeck.core.files import write_atomically
from flightdeck.core.paths import repo_root
from flightdeck.local.context import LocalContext, Replica, TrackState
from flightdeck.local.ports import free_port
from flightdeck.local.supervisor import Program
from flightdeck.workloads import Track, TrackSpec


def replica_group(track: Track, index: int) -> str:
    return f"backend-{track}-{index}"


class SupervisorWorkloads:
    def __init__(self, context: LocalContext) -> None:
        self.context = context

    # -- Workloads ----------------------------------------------------------------------------
    def get(self, track: Track) -> TrackSpec | None:
        state = self.context.tracks.load().get(track)
        return state.spec if state else None

    def apply(self, spec: TrackSpec) -> None:
        tracks = self.context.tracks.load()
        current = tracks.get(spec.track)
        replicas: list[Replica] = []
        for index in range(spec.replicas):
            name = replica_group(spec.track, index)
            existing = (
                current.replicas[index] if current and index < len(current.replicas) else None
            )
            replica = existing or Replica(name=name, port=free_port())
            replicas.append(replica)
            if existing and current and current.spec == spec:
                continue
            self.context.supervisor.write_group(name, [self._program(spec, replica)])
            tracks[spec.track] = TrackState(spec, tuple(replicas))
            self.context.supervisor.update()
            if existing:
                # Replacing a running replica: the next one waits until this one is ready.
                self._wait_replica_ready(replica, timeout=self.context.config.ready_timeout_seconds)
        if current:
            for extra in current.replicas[spec.replicas :]:
                self.context.supervisor.remove_group(extra.name)
        tracks[spec.track] = TrackState(spec, tuple(replicas))
        self.context.tracks.save(tracks)
        self.context.supervisor.update()
        self.write_scrape_targets()

    def remove(self, track: Track) -> None:
        tracks = self.context.tracks.load()
        state = tracks.pop(track, None)
        if state is None:
            return
        for replica in state.replicas:
            self.context.supervisor.remove_group(replica.name)
        self.context.tracks.save(tracks)
        self.write_scrape_targets()
        self.context.supervisor.update()

    def ready(self, track: Track) -> bool:
        state = self.context.tracks.load().get(track)
        if state is None:
            return False
        for replica in state.replicas:
            info = self.context.supervisor.process(replica.name, replica.name)
            if info is None or info["statename"] != "RUNNING":
                return False
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{replica.port}/health/ready", timeout=2
                ) as response:
                    if response.status != 200:
                        return False
            except OSError:
                return False
        return True

    def wait_ready(self, track: Track, timeout: float) -> None:
        state = self.context.tracks.load().get(track)
        if state is None:
            raise RetryableError(f"track {track} is not running")
        deadline = time.monotonic() + timeout
        for replica in state.replicas:
            self._wait_replica_ready(replica, max(0.1, deadline - time.monotonic()))

    # -- helpers ------------------------------------------------------------------------------
    def _program(self, spec: TrackSpec, replica: Replica) -> Program:
        config = self.context.config
        env: dict[str, str] = {
            "MONGODB_URI": config.mongodb_uri,
            "MONGODB_DATABASE": config.database.name,
            "UPLOAD_DIR": str(self.context.run_dir.uploads),
            "APP_VERSION": spec.version,
            "APP_TRACK": spec.track,
            "MAX_UPLOAD_BYTES": str(config.backend.max_upload_bytes),
        }
        env.update(spec.env)
        return Program(
            name=replica.name,
            command=[
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:app",
                "--host=127.0.0.1",
                f"--port={replica.port}",
                "--workers=1",
                "--no-access-log",
                "--timeout-graceful-shutdown=20",
            ],
            environment=env,
            directory=repo_root(),
            stop_wait_seconds=30,
            # A canary that crashes stays down, so that the rollout controller sees the crash.
            autorestart=spec.track != "canary",
        )

    def _wait_replica_ready(self, replica: Replica, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{replica.port}/health/ready"
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}: {exc.read()[:200].decode(errors='replace')}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.2)
        raise RetryableError(
            f"{replica.name} (port {replica.port}) is not ready after {timeout:.0f}s: {last} "
            f"(log: {self.context.run_dir.logs / (replica.name + '.log')})"
        )

    def write_scrape_targets(self) -> None:
        groups = [
            {
                "targets": state.endpoints,
                "labels": {"track": track, "version": state.spec.version},
            }
            for track, state in sorted(self.context.tracks.load().items())
        ]
        write_atomically(
            self.context.run_dir.conf / "targets" / "backend.json", json.dumps(groups, indent=2)
        )
