"""deploy/prometheus/alerts.yml: well-formed rules whose expressions name only what /metrics exports.

promtool is not available here, so PromQL syntax is not checked by a tool; this checks the YAML, each rule's
fields, and that every metric and label an expression selects on is one the service really exports.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from broadcast.instruments import count_outcomes

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
TOKEN = "alerts-test-token-0123456789"
SELECTOR = re.compile(r"\b(broadcast_[a-z0-9_]+)\s*(\{[^}]*\})?")
PROMQL_WORDS = {"sum", "rate", "increase", "max", "min", "absent", "unless", "on", "or", "and", "by"}


def exported(client: Any) -> dict[str, set[str]]:
    """Every sample name /metrics exports, with the label names seen on it."""
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}.get(family.type, [""])
        for suffix in suffixes:
            names.setdefault(family.name + suffix, set())
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_alert_names_metrics_and_labels_that_metrics_exports(client_with: Any) -> None:
    client = client_with(metrics_token=SecretStr(TOKEN))
    count_outcomes("sms", "alerts-test", [SimpleNamespace(result="permanent", error_code=21211)])
    client.get("/api/v1/campaigns")  # one observation of the latency histogram
    names = exported(client)
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert {r["alert"] for r in rules} >= {"BroadcastNothingSent", "BroadcastProviderErrorRate",
                                           "BroadcastGatewayPhoneDown", "BroadcastSchedulerWithoutLeader"}
    for rule in rules:
        assert set(rule) >= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")"), rule["alert"]
        found = SELECTOR.findall(expr)
        assert found, f"{rule['alert']}: names no broadcast_ metric"
        for name, braces in found:
            assert name in names, f"{rule['alert']}: {name} is not exported by /metrics"
            for label in re.findall(r"([a-z_]+)\s*(?:=~|!=|!~|=)", braces):
                assert label in names[name], f"{rule['alert']}: {name} has no label {label}"
        for word in re.findall(r"\b([a-z_]+)\s*\(", expr):
            assert word in PROMQL_WORDS, f"{rule['alert']}: unexpected function {word}"
