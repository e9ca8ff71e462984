"""bin/lib/python.sh: which Python makes .venv (bin/run, bin/test and the benchmarks source it).

The candidates here are fake interpreters (shell scripts) that answer the probe with a CPU figure of
our choosing, so the choice is tested without depending on how this machine's Pythons were built;
one test runs the probe on the real interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "bin" / "lib" / "python.sh"


def fake_python(path: Path, *, seconds: str | None, real_path: str, version: str = "3.11.9") -> Path:
    """An interpreter that answers the probe with ``seconds`` (None: it cannot serve, as a Python without venv)."""
    probe_answer = "exit 1" if seconds is None else f"echo {seconds}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "#!/bin/sh\n"
        'case "$2" in\n'
        f"  *process_time*) {probe_answer} ;;\n"
        f'  *realpath*) echo "{real_path} {version}" ;;\n'
        "  *) exit 2 ;;\n"
        "esac\n"
    )
    path.chmod(0o755)
    return path


def pick(tmp_path: Path, *, system: Path | None, python: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{tmp_path / 'path'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    env["PYTHON_PICK_SYSTEM"] = str(system) if system is not None else str(tmp_path / "absent")
    if python is not None:
        env["PYTHON"] = python
    return subprocess.run(
        ["bash", "-c", f'. "{LIBRARY}"; python_pick'], env=env, capture_output=True, text=True, check=True
    )


@pytest.fixture
def path_python(tmp_path: Path) -> Path:
    return fake_python(tmp_path / "path" / "python3", seconds="0.040000", real_path="/opt/pyenv/bin/python3.11")


def test_a_system_python_clearly_faster_is_taken_and_the_reason_printed(tmp_path: Path, path_python: Path) -> None:
    system = fake_python(tmp_path / "system" / "python3", seconds="0.030000", real_path="/usr/bin/python3.11")

    result = pick(tmp_path, system=system)

    assert result.stdout.strip() == str(system)
    assert "25 % less CPU" in result.stderr
    assert "/opt/pyenv/bin/python3.11" in result.stderr


def test_a_system_python_only_a_little_faster_leaves_python3_on_path(tmp_path: Path, path_python: Path) -> None:
    system = fake_python(tmp_path / "system" / "python3", seconds="0.038000", real_path="/usr/bin/python3.11")

    result = pick(tmp_path, system=system)

    assert result.stdout.strip() == str(path_python)
    assert result.stderr == ""


def test_the_same_interpreter_twice_is_not_a_choice(tmp_path: Path, path_python: Path) -> None:
    system = fake_python(tmp_path / "system" / "python3", seconds="0.010000", real_path="/opt/pyenv/bin/python3.11")

    assert pick(tmp_path, system=system).stdout.strip() == str(path_python)


def test_python3_on_path_that_cannot_serve_gives_way_to_the_system_one(tmp_path: Path) -> None:
    fake_python(tmp_path / "path" / "python3", seconds=None, real_path="/opt/old/bin/python3.9")
    system = fake_python(tmp_path / "system" / "python3", seconds="0.050000", real_path="/usr/bin/python3.11")

    assert pick(tmp_path, system=system).stdout.strip() == str(system)


def test_no_usable_python_gives_an_empty_answer(tmp_path: Path) -> None:
    fake_python(tmp_path / "path" / "python3", seconds=None, real_path="/opt/old/bin/python3.9")

    assert pick(tmp_path, system=None).stdout == "\n"


def test_an_explicit_python_is_taken_as_it_is(tmp_path: Path, path_python: Path) -> None:
    system = fake_python(tmp_path / "system" / "python3", seconds="0.001000", real_path="/usr/bin/python3.11")

    assert pick(tmp_path, system=system, python="/somewhere/python3.12").stdout.strip() == "/somewhere/python3.12"


def test_the_probe_runs_on_a_real_interpreter(tmp_path: Path) -> None:
    (tmp_path / "path").mkdir()
    os.symlink(sys.executable, tmp_path / "path" / "python3")

    result = subprocess.run(
        ["bash", "-c", f'. "{LIBRARY}"; _python_probe python3'],
        env={"PATH": f"{tmp_path / 'path'}:/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )

    seconds, real_path, version = result.stdout.split()
    assert float(seconds) > 0
    assert real_path == os.path.realpath(sys.executable)
    assert version == ".".join(str(part) for part in sys.version_info[:3])


def venv_create(tmp_path: Path, *, python: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f'. "{LIBRARY}"; python_venv_create "{tmp_path / "venv"}"'],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHON": python},
        capture_output=True,
        text=True,
        check=False,
    )


def test_venv_create_refuses_a_python_older_than_3_11(tmp_path: Path) -> None:
    old = fake_python(tmp_path / "old" / "python3", seconds=None, real_path="/opt/old/bin/python3.9")

    result = venv_create(tmp_path, python=str(old))

    assert result.returncode == 1
    assert "needs Python 3.11 or newer" in result.stderr
    assert not (tmp_path / "venv").exists()


def test_venv_create_makes_the_virtualenv_with_the_chosen_python(tmp_path: Path) -> None:
    result = venv_create(tmp_path, python=sys.executable)

    assert result.returncode == 0, result.stderr
    assert f"with {sys.executable}" in result.stdout
    made = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "python"), "-c", "import sys; print(sys.prefix != sys.base_prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert made.stdout.strip() == "True"
