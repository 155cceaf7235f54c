"""deploy/: the systemd unit, the container files and the dashboards parse and name real things."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
PORT = "8321"  # the engine's HTTP server ([http] port): /healthz and /metrics
METRICS = {
    "galfriday_connection_state",
    "galfriday_reconnects_total",
    "galfriday_frames_total",
    "galfriday_books_total",
    "galfriday_sequence_gaps_total",
    "galfriday_rest_counter",
    "galfriday_rest_calls_total",
    "galfriday_orders_total",
    "galfriday_fills_total",
    "galfriday_reconciliations_total",
    "galfriday_discrepancies_total",
    "galfriday_review_queue",
    "galfriday_audit_queue_depth",
    "galfriday_audit_write_seconds",
    "galfriday_capture_drops_total",
    "process_resident_memory_bytes",
    "galfriday_loop_lag_seconds",
}


def _script() -> str:
    """The command pyproject.toml installs."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"galfriday": "galfriday.cli:main"}
    return "galfriday"


def _unit() -> dict[str, dict[str, list[str]]]:
    """systemd's unit syntax: sections of keys, a key may repeat."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (DEPLOY / "galfriday.service").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, sep, value = line.partition("=")
        assert sep and key == key.strip() and re.fullmatch(r"[A-Za-z]+", key), line
        current.setdefault(key, []).append(value)
    return sections


def test_the_unit_is_notify_with_a_watchdog_and_restarts_on_failure() -> None:
    service = _unit()["Service"]
    assert service["Type"] == ["notify"]
    assert int(service["WatchdogSec"][0]) > 0
    assert service["Restart"] == ["on-failure"]
    assert service["RestartPreventExitStatus"] == ["2"]  # cli.EXIT_USAGE: a bad config


def test_the_unit_runs_the_installed_command_as_a_dedicated_user() -> None:
    service = _unit()["Service"]
    command = shlex.split(service["ExecStart"][0])
    assert Path(command[0]).name == _script() and command[1] == "run"
    assert service["User"] == ["galfriday"] and "root" not in service["User"]
    for line in ("NoNewPrivileges", "ProtectSystem", "PrivateTmp", "CapabilityBoundingSet"):
        assert line in service
    assert "AF_UNIX" in service["RestrictAddressFamilies"][0]  # the notify socket


def test_the_image_installs_runtime_only_and_runs_as_non_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    instructions = [line.split(None, 1) for line in text.splitlines() if line[:1].isupper()]
    names = [name for name, *_ in instructions]
    assert names.count("FROM") == 2 and "python:3.12-slim" in text
    install = next(rest for name, rest in instructions if name == "RUN" and "pip" in rest)
    assert install.rstrip().endswith(" .") and "[dev]" not in text and "-e " not in install
    users = [rest.strip() for name, rest in instructions if name == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert json.loads(next(rest for name, rest in instructions if name == "ENTRYPOINT")) == [
        _script()
    ]
    health = text[text.index("HEALTHCHECK") :]
    assert f"http://127.0.0.1:{PORT}/healthz" in health.split("\n\n")[0]


def test_compose_has_a_healthcheck_and_a_volume_for_the_data() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    service = compose["services"]["galfriday"]
    assert service["build"]["dockerfile"] == "deploy/Dockerfile"
    assert f"http://127.0.0.1:{PORT}/healthz" in " ".join(service["healthcheck"]["test"])
    volume = next(v for v in service["volumes"] if v.startswith("galfriday-data:"))
    assert volume == "galfriday-data:/var/lib/galfriday" and "galfriday-data" in compose["volumes"]
    assert service["command"][0] == "run"


def test_prometheus_scrapes_the_galfriday_job_on_its_port() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "galfriday")
    assert job["metrics_path"] == "/metrics"
    assert [t.rsplit(":", 1)[1] for t in job["static_configs"][0]["targets"]] == [PORT]


def test_the_dashboard_charts_every_metric_and_only_those() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "galfriday.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    named = {
        re.sub(r"_bucket$", "", name)
        for expr in exprs
        for name in re.findall(r"\b(?:galfriday|process)_[a-z_]+", expr)
    }
    assert named == METRICS
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
