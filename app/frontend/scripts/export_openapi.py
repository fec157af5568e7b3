"""Write the backend's OpenAPI document (JSON) to a file: the input of the generated client.

    uv run --all-packages python app/frontend/scripts/export_openapi.py OUTPUT.json

The document comes from the FastAPI application itself, so the client follows the routes and
models as they are. The version in `info` is fixed: the schema must not depend on the build
(APP_VERSION) that happens to export it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.core.config import Settings
from app.main import create_app

SCHEMA_VERSION = "0.0.0-dev"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="where to write the JSON document")
    args = parser.parse_args()
    document = create_app(Settings(app_version=SCHEMA_VERSION)).openapi()
    args.output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
