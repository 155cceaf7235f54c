"""deploy/: the systemd unit, the container files and the dashboards parse and name real things."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import httpx
import trio
import yaml
from prometheus_client.parser import text_string_to_metric_families

import galfriday
from galfriday.web import HttpConfig, serve_http
from galfriday.web import metrics as metrics_module

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
PORT = "8321"  # the engine's HTTP server ([http] port): /healthz and /metrics
TARGET_LABELS = {"job", "instance"}  # added by Prometheus to every series it scrapes
DOCUMENTED = re.compile(r"^((?:galfriday|process)_[a-z_]+)(?:\{([a-z_,]*)\})?\s", re.MULTILINE)
NAME = re.compile(r"\b(?:galfriday|process)_[a-z_]+")


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


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def _scrape_job() -> dict[str, Any]:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    return dict(next(j for j in config["scrape_configs"] if j["job_name"] == "galfriday"))


def test_prometheus_scrapes_the_galfriday_job_on_its_port() -> None:
    job = _scrape_job()
    assert job["metrics_path"] == "/metrics"
    assert [t.rsplit(":", 1)[1] for t in job["static_configs"][0]["targets"]] == [PORT]


def test_prometheus_sends_the_token_from_the_secret_galfriday_reads_it_from() -> None:
    auth = _scrape_job()["authorization"]
    secret = Path(auth["credentials_file"])
    assert auth.get("type", "Bearer") == "Bearer" and secret.parent == Path("/run/secrets")
    services = _compose()["services"]
    assert secret.name in services["galfriday"]["secrets"]
    assert secret.name in services["prometheus"]["secrets"]
    assert secret.name in _compose()["secrets"]


def test_compose_prometheus_reaches_the_engine_by_its_service_name() -> None:
    services = _compose()["services"]
    (target,) = _scrape_job()["static_configs"][0]["targets"]
    assert target.rsplit(":", 1)[0] in services
    mounted = [v.split(":")[0] for v in services["prometheus"]["volumes"]]
    assert "./prometheus.yml" in mounted


def test_the_token_file_of_the_compose_comment_makes_a_valid_non_loopback_server() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    http = HttpConfig(bind="0.0.0.0", token_file="/run/secrets/http-token")
    assert f'token_file = "{http.token_file}"' in text and f'bind = "{http.bind}"' in text


def _family(name: str) -> str:
    """A sample's or a documented name's family (counters lose ``_total``, histograms
    ``_bucket``), as prometheus-client's parser names it."""
    return re.sub(r"_(?:total|bucket)$", "", name)


def _charted() -> list[tuple[str, set[str]]]:
    """(family, labels the query and its legend use) for every dashboard target."""
    dashboard = json.loads((DEPLOY / "grafana" / "galfriday.json").read_text())
    out = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            (name,) = set(NAME.findall(expr))  # one metric a query
            labels = {
                label.strip()
                for group in re.findall(r"\bby \(([^)]*)\)", expr)
                for label in group.split(",")
            }
            labels |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", expr))
            labels |= set(re.findall(r"\{\{(\w+)\}\}", target["legendFormat"]))
            out.append((_family(name), labels - TARGET_LABELS))
    return out


def _documented() -> dict[str, set[str]]:
    """The table of galfriday/web/metrics.py's docstring: family -> its labels."""
    doc = metrics_module.__doc__ or ""
    table = DOCUMENTED.findall(doc)
    return {_family(name): set(filter(None, labels.split(","))) for name, labels in table}


async def _exposed(tmp_path: Path) -> dict[str, set[str] | None]:
    """Family -> label names (``None``: no series yet), from /metrics of a running engine
    (the embedded simulator), after one REST call."""
    settings = galfriday.load_config(None, database=tmp_path / "a.db", capture=False)
    async with galfriday.open_engine(settings) as engine, trio.open_nursery() as nursery:
        port = await nursery.start(serve_http, engine, HttpConfig(port=0))
        await engine.internal.rest.balance()
        await engine.internal.audit.flush()
        async with httpx.AsyncClient() as http:
            reply = await http.get(f"http://127.0.0.1:{port}/metrics")
        nursery.cancel_scope.cancel()
    assert reply.status_code == 200
    return {
        family.name: {label for sample in family.samples for label in sample.labels}
        if family.samples
        else None
        for family in text_string_to_metric_families(reply.text)
    }


def test_the_metrics_table_is_read_with_its_labels() -> None:
    table = _documented()
    assert table["galfriday_books"] == {"outcome"}
    assert table["galfriday_rest_counter"] == set()
    assert table["galfriday_audit_write_seconds"] == set()


def test_the_dashboard_charts_every_documented_galfriday_metric() -> None:
    charted = {name for name, _ in _charted()}
    missing = {n for n in _documented() if n.startswith("galfriday_")} - charted
    assert not missing, f"not on the dashboard: {sorted(missing)}"


async def test_the_dashboard_asks_only_for_series_and_labels_a_running_engine_exposes(
    tmp_path: Path,
) -> None:
    exposed = await _exposed(tmp_path)
    table = _documented()
    # the first health verdict comes after health_interval: until then its family is absent
    assert set(table) - set(exposed) <= {"galfriday_connection_health"}
    for name, used in _charted():
        assert name in exposed or name in table, f"/metrics has no {name}"
        labels = exposed.get(name) or table[name]  # no series yet: the table's labels
        assert used <= labels, f"{name} has no label {sorted(used - labels)}"


def test_the_dashboard_panels_have_unique_ids() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "galfriday.json").read_text())
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
