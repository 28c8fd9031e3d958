"""nginx in front of the app for the benchmark: ``deploy/nginx.conf`` with its ports and paths
moved into a temporary folder and plain HTTP where it says TLS (as ``tests/test_scale.py``
runs it); every replaced line must be found, so a changed example fails loudly."""

from __future__ import annotations

import getpass
import http.client
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "actions.example.org"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config_copy(folder: Path, port: int, app_port: int, redirect_port: int) -> Path:
    (folder / "cache").mkdir(parents=True, exist_ok=True)
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp_paths = "".join(f"\n    {kind}_temp_path {folder / kind};" for kind in kinds)
    replacements = {
        "user www-data;": user,
        "worker_processes auto;": "worker_processes 1;",
        "pid /run/nginx-action-widget.pid;": f"pid {folder / 'nginx.pid'};",
        "error_log /var/log/nginx/action-widget.error.log crit;": "error_log stderr crit;",
        "http {": "http {" + temp_paths,
        "/var/cache/nginx/action-widget": str(folder / "cache"),
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
        "listen 80 default_server;": f"listen 127.0.0.1:{free_port()} default_server;",
        "listen 443 ssl default_server;": "",
        "listen 80;": f"listen 127.0.0.1:{redirect_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{port};",
        f"ssl_certificate /etc/letsencrypt/live/{HOST}/fullchain.pem;": "",
        f"ssl_certificate_key /etc/letsencrypt/live/{HOST}/privkey.pem;": "",
    }
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    for old, new in replacements.items():
        if config.count(old) != 1:
            raise RuntimeError(f"deploy/nginx.conf no longer has {old!r} once")
        config = config.replace(old, new)
    path = folder / "nginx.conf"
    path.write_text(config)
    return path


@contextmanager
def in_front(app_port: int, folder: Path) -> Iterator[int]:
    """nginx proxying to ``app_port``; yields its port once it answers."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    config = config_copy(folder / "nginx", port, app_port, free_port())
    log = folder / "nginx.log"
    command = [binary, "-c", str(config), "-p", str(config.parent), "-e", "stderr"]
    with log.open("wb") as output:
        process = subprocess.Popen([*command, "-g", "daemon off;"], stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + 15
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz", headers={"Host": HOST})
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()
