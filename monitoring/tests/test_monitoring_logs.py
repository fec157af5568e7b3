"""Loki, Promtail and Grafana Alloy configurations: retention and the log labels.

The Loki, Promtail and Alloy binaries are not installed here, so the files are parsed: YAML for
Loki and Promtail, and a small parser for the subset of the Alloy syntax the config uses
(blocks, attributes, strings, lists, objects and references).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from testsupport import REPO_ROOT

pytestmark = pytest.mark.unit

MONITORING = REPO_ROOT / "monitoring"
LABELS = {"level", "logger", "track", "version"}

# --- a small Alloy parser ------------------------------------------------------------------

TOKEN = re.compile(
    r"""\s*(?:
        (?P<comment>//[^\n]*)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<punct>[{}\[\]=,.])
    )""",
    re.VERBOSE,
)


@dataclass
class Block:
    name: str
    label: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)

    def children(self, name: str) -> list[Block]:
        return [block for block in self.blocks if block.name == name]


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = TOKEN.match(text, position)
        if match is None:
            raise SyntaxError(f"unexpected input at {text[position : position + 20]!r}")
        position = match.end()
        kind = match.lastgroup
        assert kind is not None
        if kind != "comment":
            tokens.append((kind, match.group(kind)))
    return tokens


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.index + offset
        return self.tokens[index] if index < len(self.tokens) else ("eof", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if value is not None and token[1] != value:
            raise SyntaxError(f"expected {value!r}, got {token[1]!r}")
        self.index += 1
        return token

    def body(self, end: str | None) -> Block:
        block = Block("")
        while self.peek()[1] != (end or "") and self.peek()[0] != "eof":
            name = self.dotted()
            if self.peek()[1] == "=":
                self.take("=")
                block.attributes[name] = self.expr()
            else:
                label = None
                if self.peek()[0] == "string":
                    label = self.take()[1][1:-1]
                self.take("{")
                child = self.body("}")
                self.take("}")
                child.name, child.label = name, label
                block.blocks.append(child)
        return block

    def dotted(self) -> str:
        parts = [self.take()[1]]
        while self.peek()[1] == ".":
            self.take(".")
            parts.append(self.take()[1])
        return ".".join(parts)

    def expr(self) -> Any:
        kind, value = self.peek()
        if kind == "string":
            self.take()
            return value[1:-1]
        if kind == "number":
            self.take()
            return float(value)
        if value == "[":
            self.take("[")
            items = []
            while self.peek()[1] != "]":
                items.append(self.expr())
                if self.peek()[1] == ",":
                    self.take(",")
            self.take("]")
            return items
        if value == "{":
            self.take("{")
            obj = {}
            while self.peek()[1] != "}":
                key = self.take()[1].strip('"')
                self.take("=")
                obj[key] = self.expr()
                if self.peek()[1] == ",":
                    self.take(",")
            self.take("}")
            return obj
        if kind == "ident":
            return {"ref": self.dotted()}
        raise SyntaxError(f"unexpected {value!r}")


def parse_alloy(text: str) -> Block:
    return Parser(text).body(None)


def test_alloy_parser_reads_blocks_attributes_and_rejects_garbage() -> None:
    root = parse_alloy('a.b "x" {\n  k = ["1", c.d.e]\n  inner { m = { p = "q", } }\n}\n')
    (block,) = root.children("a.b")
    assert block.label == "x"
    assert block.attributes["k"] == ["1", {"ref": "c.d.e"}]
    assert block.children("inner")[0].attributes["m"] == {"p": "q"}
    with pytest.raises(SyntaxError):
        parse_alloy("a { k = ; }")


# --- Loki ----------------------------------------------------------------------------------


def test_loki_keeps_logs_30_days_through_the_compactor() -> None:
    config = yaml.safe_load((MONITORING / "loki" / "loki.yaml").read_text())
    assert config["limits_config"]["retention_period"] == "720h"
    assert config["compactor"]["retention_enabled"] is True
    assert config["compactor"]["shared_store"] == "filesystem"
    # Retention needs an index store the compactor handles (boltdb-shipper or tsdb).
    assert {c["store"] for c in config["schema_config"]["configs"]} <= {"tsdb", "boltdb-shipper"}
    # Loki 2.8.2 rejects unknown keys: no Loki 3-only settings.
    assert "allow_structured_metadata" not in config["limits_config"]


# --- Promtail ------------------------------------------------------------------------------


def promtail_stages() -> list[dict[str, Any]]:
    config = yaml.safe_load((MONITORING / "promtail" / "promtail.yaml").read_text())
    (job,) = config["scrape_configs"]
    assert job["kubernetes_sd_configs"][0]["role"] == "pod"
    stages: list[dict[str, Any]] = job["pipeline_stages"]
    return stages


def test_promtail_parses_json_and_labels_level_logger_track_version() -> None:
    stages = promtail_stages()
    names = [next(iter(stage)) for stage in stages]
    assert names.index("cri") < names.index("json") < names.index("labels")
    json_stage = stages[names.index("json")]["json"]["expressions"]
    assert set(json_stage) >= LABELS | {"request_id"}
    assert set(stages[names.index("labels")]["labels"]) == LABELS


def test_promtail_never_makes_request_id_a_label() -> None:
    text = (MONITORING / "promtail" / "promtail.yaml").read_text()
    for stage in promtail_stages():
        (name, body) = next(iter(stage.items()))
        if name in {"labels", "static_labels"}:
            assert "request_id" not in body
    # Promtail 2.8.2 has no structured_metadata stage: it must not be used.
    assert "structured_metadata:" not in text


# --- Alloy ---------------------------------------------------------------------------------


def alloy() -> Block:
    return parse_alloy((MONITORING / "alloy" / "config.alloy").read_text())


def test_alloy_pipeline_is_wired_from_kubernetes_to_loki() -> None:
    root = alloy()
    (source,) = root.children("loki.source.kubernetes")
    (process,) = root.children("loki.process")
    (write,) = root.children("loki.write")
    assert source.attributes["forward_to"] == [{"ref": f"loki.process.{process.label}.receiver"}]
    assert process.attributes["forward_to"] == [{"ref": f"loki.write.{write.label}.receiver"}]
    assert write.children("endpoint")[0].attributes["url"].endswith("/loki/api/v1/push")


def test_alloy_labels_and_request_id_as_structured_metadata() -> None:
    (process,) = alloy().children("loki.process")
    stages = [block.name for block in process.blocks]
    assert stages.index("stage.json") < stages.index("stage.labels")
    (json_stage,) = process.children("stage.json")
    assert set(json_stage.attributes["expressions"]) >= LABELS | {"request_id"}
    (labels,) = process.children("stage.labels")
    assert set(labels.attributes["values"]) == LABELS
    (metadata,) = process.children("stage.structured_metadata")
    assert set(metadata.attributes["values"]) == {"request_id"}
    assert not process.children("stage.static_labels")
