"""Load generators for the benchmarks, loopback only and always bounded: ``wrk`` for plain GETs
(its C event loop stays out of the way of the server's CPU), and a small threaded ``http.client``
client for the form flows, which need a token from one response in the next request."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

HOST = "127.0.0.1"
T = TypeVar("T")


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    requests: int
    #: non-2xx/3xx answers plus socket errors
    errors: int
    seconds: float
    #: latency percentiles in milliseconds, with ``latency=True``
    p50: float = 0.0
    p99: float = 0.0


def wrk(
    port: int,
    path: str,
    *,
    seconds: float,
    connections: int = 16,
    threads: int = 1,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    env: dict[str, str] | None = None,
    latency: bool = False,
) -> WrkResult:
    """Requests to ``path`` as fast as ``connections`` keep-alive connections allow, for
    ``seconds``: GETs, or what the Lua ``script`` makes (``env`` reaches it)."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk)")
    command = [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    command += ["-s", str(script)] if script else []
    command += ["--latency"] if latency else []
    command.append(f"http://{HOST}:{port}{path}")
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
        env={**os.environ, **(env or {})},
    )
    out = done.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out)
    if not rate or not total:
        raise RuntimeError(f"cannot read wrk's output:\n{out}\n{done.stderr}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    took = float(total.group(2)) * {"ms": 0.001, "s": 1, "m": 60}[total.group(3)]
    result = WrkResult(float(rate.group(1)), int(total.group(1)), errors, took)
    if latency:
        result = replace(result, p50=_percentile(out, "50"), p99=_percentile(out, "99"))
    return result


def _percentile(out: str, p: str) -> float:
    """wrk's ``--latency`` line for percentile ``p``, in milliseconds."""
    found = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if not found:
        raise RuntimeError(f"no {p}% latency in wrk's output:\n{out}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]
    return float(found.group(1)) * scale


@dataclass
class Answer:
    status: int
    body: bytes
    seconds: float


def request(
    connection: http.client.HTTPConnection,
    method: str,
    path: str,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request on a kept-alive connection (http.client reopens it if the server closed)."""
    started = time.perf_counter()
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    return Answer(response.status, data, time.perf_counter() - started)


@dataclass
class Run:
    """What a batch of requests did: how fast, how slow the slowest, what went wrong."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile latency in milliseconds (nearest rank)."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))
        return ordered[rank] * 1000

    def errors(self, ok: int = 200) -> int:
        return len(self.failures) + sum(n for s, n in self.statuses.items() if s != ok)


def run_parallel(
    port: int,
    items: Sequence[T],
    work: Callable[[http.client.HTTPConnection, T], Answer],
    *,
    concurrency: int,
    on_answer: Callable[[int, Answer], None] | None = None,
) -> Run:
    """Send one request per item from ``concurrency`` threads, each on its own connection."""
    run = Run()
    lock = threading.Lock()
    next_index = iter(range(len(items)))

    def worker() -> None:
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                try:
                    answer = work(connection, items[index])
                except (OSError, http.client.HTTPException) as error:
                    connection.close()
                    with lock:
                        run.failures.append(f"{type(error).__name__}: {error}")
                    continue
                with lock:
                    run.latencies.append(answer.seconds)
                    run.statuses[answer.status] = run.statuses.get(answer.status, 0) + 1
                if on_answer:
                    on_answer(index, answer)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.seconds = time.perf_counter() - started
    return run
