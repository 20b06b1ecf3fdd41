"""A `dagster-webserver` for the browser test: a subprocess on 127.0.0.1, on a free port.

It runs in its own process group (its code server is a child process), is ready when
`/server_info` answers and the code location has loaded, and is always stopped with its
whole group, whatever happened in between.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WEBSERVER = Path(sys.executable).parent / "dagster-webserver"

_LOCATIONS = """{ workspaceOrError { __typename
  ... on Workspace { locationEntries { name loadStatus
      locationOrLoadError { __typename ... on PythonError { message } } } }
  ... on PythonError { message } } }"""


class WebserverError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def dagster_webserver(
    workspace: Path, env: dict[str, str], log: Path, cwd: Path, read_only: bool = True, timeout: float = 120
) -> Iterator[str]:
    """Start the webserver on `workspace` with `env`; yield its base URL; stop its process group.

    Its output goes to `log`, whose tail is in the error when it does not come up.
    """
    for attempt in range(3):  # another process may take the free port before the server binds it
        port = free_port()
        command = [str(WEBSERVER), "-w", str(workspace), "-h", "127.0.0.1", "-p", str(port)]
        if read_only:
            command.append("--read-only")
        with open(log, "ab") as out:
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_ready(process, base, log, timeout)
        except _ExitedEarly:
            _stop(process)
            if attempt == 2 or "address already in use" not in _tail(log).lower():
                raise WebserverError(f"dagster-webserver exited during startup:\n{_tail(log)}") from None
            continue
        except BaseException:
            _stop(process)
            raise
        try:
            yield base
        finally:
            _stop(process)
        return


class _ExitedEarly(Exception):
    pass


def _wait_until_ready(process: subprocess.Popen, base: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise _ExitedEarly()
        try:
            with urllib.request.urlopen(f"{base}/server_info", timeout=5) as answer:
                json.load(answer)
            status = _location_status(base)
            if status is None:
                return
            last = status
        except (OSError, ValueError) as error:  # refused, reset, timed out, not JSON yet
            last = f"{type(error).__name__}: {error}"
        time.sleep(0.5)
    raise WebserverError(f"dagster-webserver at {base} not ready after {timeout:.0f} s ({last}):\n{_tail(log)}")


def _location_status(base: str) -> str | None:
    """None when every code location has loaded; else what it is doing. A load error raises."""
    request = urllib.request.Request(f"{base}/graphql", data=json.dumps({"query": _LOCATIONS}).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        workspace = json.load(answer)["data"]["workspaceOrError"]
    if workspace["__typename"] != "Workspace":
        return f"workspace: {workspace.get('message', workspace['__typename'])}"
    entries = workspace["locationEntries"]
    if not entries:
        return "no code location yet"
    for entry in entries:
        loaded = entry["locationOrLoadError"] or {}
        if loaded.get("__typename") == "PythonError":
            raise WebserverError(f"code location {entry['name']} failed to load:\n{loaded['message']}")
        if entry["loadStatus"] != "LOADED" or not loaded:
            return f"code location {entry['name']}: {entry['loadStatus']}"
    return None


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the whole process group (webserver and code server), SIGKILL if it lingers."""
    group = process.pid  # start_new_session: the group id is the leader's pid
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if process.poll() is None:
                time.sleep(0.1)
                continue
            try:
                os.killpg(group, 0)  # a child (the code server) may outlive the leader briefly
            except ProcessLookupError:
                return
            time.sleep(0.1)
    process.wait(timeout=5)


def _tail(log: Path, chars: int = 3000) -> str:
    try:
        return log.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return "(no log)"
