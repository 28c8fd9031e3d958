"""A plain (non-editable) ``pip install .`` must carry the templates, static files, migrations and
the demo campaign, and the installed package must find them inside itself."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [
    "widget/static/embed.js",
    "widget/static/widget.css",
    "widget/templates/widget/page.html",
    "widget/templates/email/confirm.txt",
    "widget/migrations/env.py",
    "widget/migrations/versions/0001_signatures_counts_and_the_outbox.py",
    "widget/campaigns/ua-109-23.toml",
]


def build_wheel(folder: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(folder),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = folder.glob("action_widget-*.whl")
    return wheel


def test_the_wheel_ships_templates_static_migrations_and_campaigns(tmp_path: Path) -> None:
    names = set(zipfile.ZipFile(build_wheel(tmp_path)).namelist())
    assert [name for name in SHIPPED if name not in names] == []


def test_the_installed_package_serves_from_its_own_files(tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(build_wheel(tmp_path)).extractall(site)
    script = (
        "import widget, widget.paths as p; from widget import create_app, Settings;"
        "s = Settings.from_env({'WIDGET_PUBLIC_URL': 'http://localhost'}, "
        f"instance_path={str(tmp_path / 'instance')!r});"
        "app = create_app(s); r = app.test_client().get('/embed.js');"
        "print(p.STATIC.parent == p.PACKAGE, r.status_code, 'ActionWidget' in r.get_data(True));"
        "r.close()"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["True", "200", "True"]
