"""Frontend budget on a real local platform: initial JavaScript and time to the notes list.

Starts a local platform (nginx with TLS serving app/frontend/dist, the backend on FerretDB) in
a temporary directory on free ports, adds --notes notes, then loads the app --runs times in
Debian's chromium, each time in a new browser context (empty cache, new TLS session), and
measures in the page (app/frontend/e2e/initial-load.bench.ts):

- the JavaScript transferred before the notes list shows: the compressed (gzip) bodies of the
  scripts the page loaded, as the Resource Timing API reports them (budget: 150 KiB);
- the time from navigation start until the first note is in the DOM, and until the frame
  after it (the list painted); the first contentful paint; the layout shift.

    make setup   # builds app/frontend/dist
    uv run --all-packages python benchmarks/frontend/run_benchmark.py --runs 20 --notes 50

Results are printed as Markdown; the exit code is 1 when the initial JavaScript is over budget.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lib"))

from flightdeck.local.frontend import FrontendBuild  # noqa: E402
from testsupport.platform import https_client, platform_from_file, write_platform_config  # noqa: E402

FRONTEND = ROOT / "app" / "frontend"
BUDGET_BYTES = 150 * 1024


def summary(values: list[float], unit: str, digits: int = 0) -> str:
    def show(value: float) -> str:
        return f"{value:.{digits}f} {unit}"

    return (
        f"median **{show(statistics.median(values))}**, "
        f"min {show(min(values))}, max {show(max(values))}"
    )


def measure(platform_url: str, ca: Path, runs: int, results: Path) -> list[dict[str, Any]]:
    playwright = FRONTEND / "node_modules" / ".bin" / "playwright"
    if not playwright.exists():
        raise SystemExit(f"{playwright} is missing: run make setup")
    env = {
        **os.environ,
        "FLIGHTDECK_URL": platform_url,
        "FLIGHTDECK_CA": str(ca),
        "BENCH_RUNS": str(runs),
        "BENCH_RESULTS": str(results),
    }
    subprocess.run(
        [
            str(playwright),
            "test",
            "--config=e2e/benchmark.config.ts",
            f"--output={results.parent / 'playwright'}",
        ],
        cwd=FRONTEND,
        env=env,
        check=True,
    )
    loads: list[dict[str, Any]] = json.loads(results.read_text())
    return loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="cold page loads")
    parser.add_argument("--notes", type=int, default=50, help="notes in the database")
    args = parser.parse_args()
    build = FrontendBuild(FRONTEND)
    if problem := build.missing():
        raise SystemExit(f"{problem}: run make setup")
    with tempfile.TemporaryDirectory() as directory:
        config = write_platform_config(
            Path(directory),
            rate_limit={"requests_per_second": 5000, "burst": 5000},
            backup={"enabled": False},
        )
        platform = platform_from_file(config)
        platform.up()
        try:
            with https_client(platform) as client:
                for index in range(args.notes):
                    body = f"Benchmark note {index}.\n" + "Some text of a typical note. " * 8
                    response = client.post(
                        "/api/notes", json={"title": f"Note {index}", "body": body}
                    )
                    response.raise_for_status()
            url = f"https://localhost:{platform.config.ports.https}"
            loads = measure(
                url, platform.run_dir.tls / "ca.crt", args.runs, Path(directory) / "loads.json"
            )
        finally:
            platform.down(purge=True)

    scripts = sorted({script for load in loads for script in load["scripts"]})
    encoded = [load["scriptEncodedBytes"] / 1024 for load in loads]
    decoded = [load["scriptDecodedBytes"] / 1024 for load in loads]
    transfer = [load["scriptTransferBytes"] / 1024 for load in loads]
    fcp = [load["firstContentfulPaint"] for load in loads if load["firstContentfulPaint"]]
    print(f"\nBundle {build.digest()}, {args.runs} cold loads, {args.notes} notes.\n")
    print("| measure | result |")
    print("|---|---|")
    print(f"| scripts loaded before the list showed | {', '.join(scripts)} |")
    print(f"| initial JavaScript, gzip bodies | {summary(encoded, 'KiB', 1)} |")
    print(f"| initial JavaScript, with response headers | {summary(transfer, 'KiB', 1)} |")
    print(f"| initial JavaScript, decompressed | {summary(decoded, 'KiB', 1)} |")
    print(f"| first contentful paint | {summary(fcp, 'ms')} |")
    print(f"| first note in the DOM | {summary([x['notesInDom'] for x in loads], 'ms')} |")
    print(f"| notes list painted | {summary([x['notesPainted'] for x in loads], 'ms')} |")
    print(f"| cumulative layout shift | max {max(x['layoutShift'] for x in loads):.4f} |")
    over = max(load["scriptEncodedBytes"] for load in loads)
    if over >= BUDGET_BYTES:
        print(f"\nOVER BUDGET: {over / 1024:.1f} KiB of initial JavaScript (budget 150 KiB)")
        raise SystemExit(1)
    print(f"\nWithin budget: at most {over / 1024:.1f} KiB of 150 KiB of initial JavaScript.")


if __name__ == "__main__":
    main()
