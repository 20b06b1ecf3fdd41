"""The code server as deploy/systemd/mellanrum-code.service runs it: it stops within the
unit's TimeoutStopSec, also with a run in progress, and a source added to the sources file
is loaded by the documented reload, without a restart.

No systemd here: each process is started from its unit's ExecStart, WorkingDirectory and
Environment= lines (paths and ports substituted), with what systemd gives a service and a
shell may not: every signal at its default disposition (a shell's `cmd &` ignores SIGINT,
and Dagster maps SIGTERM onto SIGINT's handler, so such a server ignores SIGTERM) and a
process group of its own, to which SIGTERM goes as KillMode=control-group sends it to the
unit's cgroup.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest
import yaml

from testkit.homes import PASSPHRASE, new_home

pytestmark = pytest.mark.slow  # a whole night or more (`-m 'not slow'` for the inner loop)

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
DEPLOYMENT = ROOT / "docs" / "deployment.md"
VENV_BIN = Path(sys.executable).parent


def unit_directives(path: Path) -> dict[str, list[str]]:
    """Key -> values of a unit file (continuation lines joined, comments dropped)."""
    directives: dict[str, list[str]] = {}
    text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        directives.setdefault(key.strip(), []).append(value.strip())
    return directives


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)\s*(s|sec|min)?", value)
    assert match, f"unsupported time span {value!r}"
    return int(match.group(1)) * (60 if match.group(2) == "min" else 1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_systemd_starts_a_service() -> None:  # runs in the child, before exec
    for number in signal.valid_signals():
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            try:
                signal.signal(number, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
    os.setsid()
    os.umask(0o077)


class Unit:
    """One unit's process tree, started as systemd would (see the module doc)."""

    def __init__(self, name: str, ports: dict[int, int], environment: dict[str, str], log: Path,
                 workspace: Path, code: Path | None = None) -> None:  # fmt: skip
        self.directives = unit_directives(UNITS / f"{name}.service")
        command = self.directives["ExecStart"][0]
        if code is not None:  # another code location in place of ours, the rest as the unit says
            assert "-m orchestration.definitions" in command
            command = command.replace("-m orchestration.definitions", f"-f {code}")
        command = command.replace("/opt/mellanrum/deploy/workspace.yaml", str(workspace))
        command = command.replace("/opt/mellanrum/.venv/bin/", f"{VENV_BIN}/").replace("/opt/mellanrum", str(ROOT))
        for port, substitute in ports.items():
            command = re.sub(rf"\b{port}\b", str(substitute), command)
        self.command = shlex.split(command)
        env = {"PATH": os.environ["PATH"], "HOME": environment.get("HOME", "/nonexistent"), "LANG": "C.UTF-8"}
        for assignment in self.directives.get("Environment", []):
            key, value = assignment.split("=", 1)
            env[key] = value
        env.update(environment)
        self.log = log
        self.process = subprocess.Popen(
            self.command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log.open("wb"),
            stderr=subprocess.STDOUT, preexec_fn=_as_systemd_starts_a_service,
        )  # fmt: skip

    @property
    def stop_timeout(self) -> float:
        return seconds(self.directives["TimeoutStopSec"][0])

    def stop_as_control_group(self) -> float:
        """SIGTERM to every process of the unit; seconds until the main process exited."""
        assert self.directives.get("KillMode", ["control-group"]) == ["control-group"]
        assert self.directives.get("KillSignal", ["SIGTERM"]) == ["SIGTERM"]
        began = time.monotonic()
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(self.stop_timeout + 15)
        except subprocess.TimeoutExpired:
            pass
        return time.monotonic() - began

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)


def wait_until(check, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def grpc_serving(port: int) -> bool:
    return subprocess.run([str(VENV_BIN / "dagster"), "api", "grpc-health-check", "-p", str(port)],
                          capture_output=True).returncode == 0  # fmt: skip


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def webserver_up(port: int) -> bool:
    try:
        return "data" in graphql(port, "{ version }")
    except OSError:
        return False


def partitions(port: int) -> list[str]:
    answer = graphql(port, '{ assetNodes(assetKeys: [{path: ["municipal_interventions"]}]) { partitionKeys } }')
    (node,) = answer["data"]["assetNodes"]
    return node["partitionKeys"]


@pytest.fixture
def deployment(tmp_path, inbox):
    """A Mellanrum home whose sources file lacks one source (goteborg), an instance whose
    runs launch at once, and the environment the units would have."""
    home = tmp_path / "home"
    new_home(home, inbox, "CODE")
    sources_file = home / "inbox" / "sources.yaml"
    declared = yaml.safe_load(sources_file.read_text(encoding="utf-8"))
    goteborg = next(s for s in declared["sources"] if s["id"] == "goteborg")
    declared["sources"].remove(goteborg)
    sources_file.write_text(yaml.safe_dump(declared, allow_unicode=True, sort_keys=False), encoding="utf-8")
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\nrun_coordinator:\n  module: dagster._core.run_coordinator\n"
        "  class: DefaultRunCoordinator\n", encoding="utf-8")  # fmt: skip
    environment = {"HOME": str(tmp_path), "DAGSTER_HOME": str(dagster_home), "MELLANRUM_HOME": str(home),
                   "MELLANRUM_KEYRING_PASSPHRASE": PASSPHRASE}  # fmt: skip
    started: list[Unit] = []
    ports = {4266: free_port(), 3000: free_port(), 3001: free_port()}
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text((ROOT / "deploy" / "workspace.yaml").read_text().replace("4266", str(ports[4266])))

    def start(name: str, code: Path | None = None) -> Unit:
        unit = Unit(name, ports, environment, tmp_path / f"{name}.log", workspace, code)
        started.append(unit)
        return unit

    yield {"home": home, "goteborg": goteborg, "sources": sources_file, "start": start, "ports": ports,
           "workspace": workspace, "environment": environment, "dagster_home": dagster_home}  # fmt: skip
    for unit in started:
        unit.kill()


def test_the_code_server_stops_within_the_units_timeout_when_idle(deployment):
    server = deployment["start"]("mellanrum-code")
    port = deployment["ports"][4266]
    wait_until(lambda: grpc_serving(port), "the code server")
    took = server.stop_as_control_group()
    assert server.process.returncode is not None, f"still running {took:.0f} s after SIGTERM"
    assert took < server.stop_timeout, took
    assert server.stop_timeout <= 60  # systemd's default is 90 s: ours is shorter, not longer


SLOW_JOB = """
import time

import dagster as dg


@dg.op
def waits_for_a_share(context):
    while True:  # a delivery on a share that never answers
        time.sleep(0.2)


@dg.job(tags={"mellanrum/concurrency_group": "ingest"})
def slow_ingest():
    waits_for_a_share()


defs = dg.Definitions(jobs=[slow_ingest])
"""


def test_the_code_server_stops_within_the_units_timeout_with_a_run_in_progress(deployment, tmp_path):
    """The unit's command and stop settings with a run that would never finish: every
    process gets SIGTERM, the run is failed (re-runnable, not "started" for hours) and the
    server exits, within TimeoutStopSec. The run is a job that waits forever, loaded in
    place of our code location (`-f` for `-m orchestration.definitions`): our runs finish
    in seconds, and how the server and its run workers stop is Dagster's, not the job's."""
    ports = deployment["ports"]
    (tmp_path / "slow.py").write_text(SLOW_JOB)
    server = deployment["start"]("mellanrum-code", code=tmp_path / "slow.py")
    wait_until(lambda: grpc_serving(ports[4266]), "the code server")
    env = {**os.environ, **deployment["environment"]}
    launched = subprocess.run([str(VENV_BIN / "dagster"), "job", "launch", "-w", str(deployment["workspace"]),
                               "-j", "slow_ingest"], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert launched.returncode == 0, launched.stderr[-2000:]
    with dg.DagsterInstance.from_config(str(deployment["dagster_home"])) as instance:
        (run,) = instance.get_runs(limit=1)

        def step_started() -> bool:
            return any(e.dagster_event and e.dagster_event.event_type_value == "STEP_START"
                       for e in instance.all_logs(run.run_id))  # fmt: skip

        wait_until(step_started, "the step to start")
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
        took = server.stop_as_control_group()
        assert server.process.returncode is not None, f"still running {took:.0f} s after SIGTERM"
        assert took < server.stop_timeout, took
        # Failed at once (re-runnable), not left "started" until run monitoring, hours later.
        wait_until(lambda: instance.get_run_by_id(run.run_id).is_finished, "the run to be marked finished", 20)
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE


def reload_command() -> str:
    """The documented reload, from deployment.md's code blocks (keyed on the mutation, not on prose)."""
    text = DEPLOYMENT.read_text(encoding="utf-8")
    blocks = re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)
    (block,) = [b for b in blocks if "reloadRepositoryLocation" in b]
    lines = [line for line in block.splitlines() if not line.lstrip().startswith("#")]
    return "\n".join(lines)


def test_a_source_added_is_loaded_by_the_documented_reload_without_a_restart(deployment):
    ports = deployment["ports"]
    server = deployment["start"]("mellanrum-code")
    wait_until(lambda: grpc_serving(ports[4266]), "the code server")
    deployment["start"]("mellanrum-webserver")
    deployment["start"]("mellanrum-steward-ui")
    wait_until(lambda: webserver_up(ports[3000]) and webserver_up(ports[3001]), "both webservers")
    assert "goteborg (1480 Göteborg)" not in partitions(ports[3000])
    server_pid = server.process.pid

    # The operator adds the source to the sources file, then runs the documented reload.
    declared = yaml.safe_load(deployment["sources"].read_text(encoding="utf-8"))
    declared["sources"].append(deployment["goteborg"])
    deployment["sources"].write_text(yaml.safe_dump(declared, allow_unicode=True, sort_keys=False), encoding="utf-8")
    command = reload_command().replace("127.0.0.1:3000", f"127.0.0.1:{ports[3000]}")
    reloaded = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert reloaded.returncode == 0, reloaded.stderr
    assert "WorkspaceLocationEntry" in reloaded.stdout, reloaded.stdout

    assert "goteborg (1480 Göteborg)" in partitions(ports[3000])
    # The steward's read-only UI follows by itself (it watches the code server's id).
    wait_until(lambda: "goteborg (1480 Göteborg)" in partitions(ports[3001]), "the steward's UI to see the new source", 30)
    assert server.process.poll() is None and server.process.pid == server_pid  # no restart


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_the_units_pass_systemd_analyze_verify(tmp_path):
    """systemd's own reading of the units (paths to this checkout): every directive known and
    valid, every command executable. A mistyped KillMode is only a warning there: any output fails."""
    for unit in UNITS.glob("*.service"):
        (tmp_path / unit.name).write_text(unit.read_text(encoding="utf-8").replace("/opt/mellanrum/.venv/bin/",
                                                                                   f"{VENV_BIN}/"))  # fmt: skip
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, sorted(tmp_path.glob("*.service")))],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
