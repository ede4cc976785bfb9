"""A gunicorn server on loopback started (and stopped) by the bench, and a small JSON client.

The server runs ``app:create_app()`` with the settings of the environment, exactly as a
deployment would; the client speaks HTTP/1.1 with ``http.client`` and bearer tokens.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``gunicorn --workers N <app>`` bound to 127.0.0.1 on a free port; by default the app
    with the document stand-in of :mod:`bench.nulldocs` (W6 measures documents)."""

    def __init__(self, url: str, folder: Path, *, workers: int = 1, threads: int = 1,
                 app: str = "bench.nulldocs:create_app()") -> None:
        self.url, self.folder, self.workers, self.threads, self.app = url, folder, workers, threads, app
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        env = dict(os.environ, GRANTFLOW_DATABASE_URL=self.url, GRANTFLOW_INSTANCE_PATH=str(self.folder),
                   GRANTFLOW_SECRET_KEY="bench", GRANTFLOW_DEMO="1", GRANTFLOW_SCHEDULER="0",
                   GRANTFLOW_HOST="127.0.0.1", GRANTFLOW_PORT=str(self.port))
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
                   "--workers", str(self.workers), "--threads", str(self.threads),
                   "--log-level", "warning", "--backlog", "256", self.app]
        log = open(self.folder / "gunicorn.log", "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {(self.folder / 'gunicorn.log').read_text()[-2000:]}")
            try:
                status, _ = Client(self.port).request("GET", "/api/v1/openapi.json")
                if status == 200 and len(self.worker_pids()) >= self.workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer within 60 s")

    def worker_pids(self) -> list[int]:
        """The worker processes (children of the gunicorn master this server started)."""
        if self.process is None:
            return []
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set size (VmHWM) in MB, or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class Client:
    """One HTTP/1.1 connection to the server (re-opened when the server closes it)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port, self.token = port, token
        self.last_bytes = 0
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
        except (http.client.HTTPException, ConnectionError):
            self.conn.close()  # a connection the server closed meanwhile: once more on a new one
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
        data = response.read()
        self.last_bytes = len(data)
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()
        return response.status, json.loads(data) if data else None

    def complete(self, task_id: str, data: dict[str, Any]) -> float:
        """POST the completion; returns milliseconds. Raises on anything but 200."""
        started = time.perf_counter()
        status, body = self.request("POST", f"/api/v1/tasks/{task_id}/complete", {"data": data})
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            raise RuntimeError(f"completing {task_id}: HTTP {status} {body}")
        return elapsed


def token(port: int, username: str) -> str:
    status, body = Client(port).request("POST", "/api/v1/auth/token", {"username": username, "password": "demo"})
    if status != 200:
        raise RuntimeError(f"no token for {username}: {status} {body}")
    return str(body["token"])
