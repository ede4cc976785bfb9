"""A real deployment on loopback for reliability tests and load runs: gunicorn with several
workers on PostgreSQL, and clients that drive data authorization requests over the JSON API."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """gunicorn serving the app; ``workers()`` are the pids of its worker processes."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def workers(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def kill_worker(self) -> int:
        """SIGKILL one worker (gunicorn's master starts a new one). Returns its pid."""
        victim = self.workers()[0]
        os.kill(victim, signal.SIGKILL)
        return victim


@contextmanager
def gunicorn(database_url: str, instance: Path, workers: int = 3, timeout: float = 60) -> Iterator[Server]:
    port = free_port()
    env = {**os.environ, "GRANTFLOW_DATABASE_URL": database_url, "GRANTFLOW_INSTANCE_PATH": str(instance),
           "GRANTFLOW_DEMO": "1", "GRANTFLOW_SCHEDULER": "0", "GRANTFLOW_SECRET_KEY": "reliability-test",
           "GRANTFLOW_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    log = instance / "gunicorn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(GUNICORN), "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--timeout", "60",
             "--graceful-timeout", "5", "app:create_app()"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, port, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, _ = request(port, "GET", "/api/v1/openapi.json")
                if status == 200 and len(server.workers()) == workers:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def request(port: int, method: str, path: str, body: Any = None, token: str | None = None,
            timeout: float = 60) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw
    finally:
        conn.close()


def token(port: int, username: str) -> str:
    status, body = request(port, "POST", "/api/v1/auth/token", {"username": username, "password": "demo"})
    assert status == 200, (status, body)
    return str(body["token"])


REQUEST = {
    "business_scenario": "企业信用画像服务：为南山区金融机构提供企业经营状况评估。",
    "catalog_items": ["MKT-001", "MKT-002"],
    "development_plan": "在运营平台内对企业登记与执照信息进行清洗、关联，输出评分模型结果，原始数据不出域。",
    "purpose": "public_governance",
    "scope": "仅用于南山区涉企信用评估，不对外提供原始数据。",
}


@dataclass
class Stats:
    """What the clients saw: latency per call (seconds), outcomes by kind."""

    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    instances: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.outcomes[kind] += 1

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))] if lat else 0.0
        return {"requests": len(lat), "p50_ms": round(statistics.median(lat) * 1000, 1) if lat else 0.0,
                "p95_ms": round(p95 * 1000, 1), "outcomes": dict(self.outcomes)}


class Client:
    """Drives data authorization requests: the partner applies, the operator approves and
    records the service agreement. A call whose connection dies is retried; a retried
    completion may find its task already done (409), which counts as done."""

    def __init__(self, port: int, tokens: dict[str, str], stats: Stats, racer: bool = False) -> None:
        self.port, self.tokens, self.stats, self.racer = port, tokens, stats, racer

    def call(self, method: str, path: str, body: Any, user: str, ok: tuple[int, ...] = (200, 201)) -> tuple[int, Any]:
        for attempt in range(20):
            started = time.perf_counter()
            try:
                status, answer = request(self.port, method, path, body, self.tokens[user])
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                self.stats.record(f"connection:{type(exc).__name__}", time.perf_counter() - started)
                time.sleep(0.2 * (attempt + 1))
                continue
            kind = str(status) if status not in ok else "ok"
            self.stats.record(kind, time.perf_counter() - started)
            if status >= 500:
                time.sleep(0.2 * (attempt + 1))
                continue
            return status, answer
        raise RuntimeError(f"{method} {path} kept failing")

    def complete(self, task_id: str, data: dict[str, Any], user: str = "operator") -> None:
        status, answer = self.call("POST", f"/api/v1/tasks/{task_id}/complete", {"data": data}, user)
        assert status in (200, 409), (status, answer)

    def open_task(self, instance_id: int, element: str, user: str = "operator") -> str:
        for _ in range(50):
            status, answer = self.call("GET", f"/api/v1/instances/{instance_id}", None, user)
            assert status == 200, (status, answer)
            found = [t["id"] for t in answer["open_tasks"] if t["element"] == element]
            if found:
                return str(found[0])
            time.sleep(0.05)
        raise AssertionError(f"instance {instance_id} has no open {element}")

    def run_one(self, partner: str, n: int) -> int:
        """One request from application to grant; returns the instance id."""
        status, started = self.call("POST", "/api/v1/processes/data_authorization/instances", {"data": REQUEST}, partner)
        if status != 201:
            raise AssertionError((status, started))
        instance_id = int(started["id"])
        with self.stats.lock:
            self.stats.instances.append(instance_id)
        review = self.open_task(instance_id, "operator_review")
        if self.racer:  # two operator sessions decide the same task at once: one wins, one gets 409
            other = threading.Thread(target=self.complete, args=(review, {"decision": "approve", "comment": "同意。"}))
            other.start()
            self.complete(review, {"decision": "approve", "comment": "同意。"})
            other.join()
        else:
            self.complete(review, {"decision": "approve", "comment": "申请材料齐全，同意。"})
        sign = self.open_task(instance_id, "sign_service_agreement")
        self.complete(sign, {"agreement_no": f"NS-FW-LOAD-{instance_id:06d}-{n}", "signed_on": "2026-11-20",
                             "valid_from": "2026-11-20", "valid_until": "2027-11-19",
                             "service_scope": "企业登记注册信息的加工使用", "fee_terms": "无偿使用。"})
        return instance_id


def run_clients(port: int, clients: int, per_client: int, on_progress: Any = None) -> Stats:
    """``clients`` threads, each running ``per_client`` requests one after another."""
    stats = Stats()
    tokens = {name: token(port, name) for name in ("partner_a", "partner_b", "operator")}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        client = Client(port, tokens, stats, racer=i % 4 == 0)
        try:
            for n in range(per_client):
                client.run_one("partner_a" if i % 2 else "partner_b", n)
                if on_progress:
                    on_progress()
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return stats
