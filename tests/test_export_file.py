"""``export --output``: the file holds names and addresses, so only its owner may read it."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from widget.models import Audit


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The default umask, under which a plain ``open`` makes a file others may read."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def export(app: Flask, output: Path):  # type: ignore[no-untyped-def]
    return app.test_cli_runner().invoke(args=["export", "ua-109-23", "--output", str(output)])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_export_file_is_readable_by_its_owner_only(app: Flask, tmp_path: Path) -> None:
    output = tmp_path / "out.csv"
    result = export(app, output)
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Wrote 0 signatures to {output}.\n"
    assert mode(output) == 0o600
    assert output.read_text(encoding="utf-8-sig").startswith('"signed_at","confirmed_at","name"')
    assert not (tmp_path / "out.csv.partial").exists()


def test_an_existing_readable_target_is_replaced_by_an_owner_only_file(
    app: Flask, tmp_path: Path
) -> None:
    output = tmp_path / "out.csv"
    output.write_text("old export\n")
    os.chmod(output, 0o644)
    assert export(app, output).exit_code == 0
    assert mode(output) == 0o600
    assert "old export" not in output.read_text(encoding="utf-8-sig")


def test_a_stale_partial_file_is_named_and_left_alone(
    app: Flask, tmp_path: Path, session: Session
) -> None:
    output = tmp_path / "out.csv"
    partial = tmp_path / "out.csv.partial"
    partial.write_text("half an earlier export\n")
    result = export(app, output)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {partial} exists: an earlier export was interrupted, or another is running. "
        "Delete it, then export again.\n"
    )
    assert partial.read_text() == "half an earlier export\n"
    assert not output.exists()
    # nothing was exported, so nothing is audited as exported
    assert session.scalar(select(func.count()).where(Audit.action == "export")) == 0


def test_an_output_in_a_missing_folder_is_a_clear_error(app: Flask, tmp_path: Path) -> None:
    output = tmp_path / "no-such-folder" / "out.csv"
    result = export(app, output)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {output}.partial cannot be created: No such file or directory.\n"
    )
