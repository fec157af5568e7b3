"""What every part of the local engine shares: the config, the run directory and supervisord."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from flightdeck.core.files import write_atomically
from flightdeck.core.paths import repo_root
from flightdeck.core.tracks import Track, TrackSpec
from flightdeck.local.config import PlatformConfig, load_platform_config
from flightdeck.local.layout import RunDir
from flightdeck.local.supervisor import Supervisor


@dataclass(frozen=True)
class Replica:
    name: str
    port: int


@dataclass(frozen=True)
class TrackState:
    spec: TrackSpec
    replicas: tuple[Replica, ...]

    @property
    def endpoints(self) -> list[str]:
        return [f"127.0.0.1:{replica.port}" for replica in self.replicas]


class TrackStore:
    """The backend tracks that run now, with their replicas' ports (state/tracks.json)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[Track, TrackState]:
        if not self.path.exists():
            return {}
        raw = json.loads(self.path.read_text())
        tracks: dict[Track, TrackState] = {}
        for name, entry in raw.items():
            spec = TrackSpec(**entry["spec"])
            replicas = tuple(Replica(**replica) for replica in entry["replicas"])
            tracks[name] = TrackState(spec, replicas)
        return tracks

    def save(self, tracks: dict[Track, TrackState]) -> None:
        data = {
            name: {
                "spec": asdict(state.spec) | {"env": dict(state.spec.env)},
                "replicas": [asdict(replica) for replica in state.replicas],
            }
            for name, state in sorted(tracks.items())
        }
        write_atomically(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")


@dataclass(frozen=True)
class LocalContext:
    config: PlatformConfig

    @property
    def run_dir(self) -> RunDir:
        return RunDir(self.config.run_dir)

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(self.run_dir)

    @property
    def tracks(self) -> TrackStore:
        return TrackStore(self.run_dir.state / "tracks.json")


def load_local_context(config_path: Path | None) -> LocalContext:
    """The platform config (`--config`, else flightdeck.yaml of the checkout) as a context."""
    root = config_path.resolve().parent if config_path else repo_root()
    return LocalContext(load_platform_config(config_path, root))
