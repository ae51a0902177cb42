"""The systemd units under deploy/systemd/: every step's instances and every other service can be
run from them, each restarted by systemd, each instance with the identity `accord up` gives it."""

from __future__ import annotations

import argparse
import configparser
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from services import processes
from services.cli import parser
from services.settings import Settings
from services.steps.registry import NAMES

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
INSTALLED = "/opt/accord"  # where docs/deploy.md installs the checkout


def unit(name: str) -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None, strict=False)
    config.optionxform = str  # type: ignore[assignment, method-assign]  # keys are case-sensitive
    config.read_string((UNITS / name).read_text())
    return config


def run_choices() -> set[str]:
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    step = next(a for a in sub.choices["run"]._actions if a.dest == "step")
    return set(step.choices or ())


def exec_start(name: str, instance: str = "") -> list[str]:
    """ExecStart as systemd would run it for `instance`, with the installed checkout as this one."""
    line = unit(name)["Service"]["ExecStart"].replace("%i", instance)
    return [word.replace(INSTALLED, str(UNITS.parents[1])) for word in shlex.split(line)]


@pytest.fixture
def fake_accord(tmp_path: Path) -> Path:
    """An `accord` that says what it was asked to run, and as which instance."""
    stub = tmp_path / "accord"
    stub.write_text('#!/bin/sh\necho "$*"\necho "$ACCORD_INSTANCE $ACCORD_METRICS_PORT"\n')
    stub.chmod(0o755)
    return stub


def test_every_unit_restarts_its_service_and_reads_the_one_settings_file() -> None:
    names = sorted(path.name for path in UNITS.glob("*.service"))
    assert "accord-step@.service" in names
    for name in names:
        service = unit(name)["Service"]
        assert service["Restart"] == "always", name
        assert float(service["RestartSec"]) > 0, name
        assert service["EnvironmentFile"] == "/etc/accord/accord.env", name


@pytest.mark.parametrize("step", NAMES)
def test_every_instance_of_every_step_runs_as_accord_up_would_run_it(step: str, fake_accord: Path) -> None:
    settings = Settings(ACCORD_METRICS_PORT=9400)
    for k in range(3):
        argv = exec_start("accord-step@.service", f"{step}-{k}")
        env = {**os.environ, "ACCORD_BIN": str(fake_accord), "ACCORD_METRICS_PORT": "9400"}
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout.splitlines()  # noqa: S603
        assert out[0] == f"run {step}" and step in run_choices()
        wanted = processes.instance_env(settings, step, k)
        assert out[1] == f"{wanted['ACCORD_INSTANCE']} {wanted['ACCORD_METRICS_PORT']}"


@pytest.mark.parametrize("name", ["intake", "intake-", "intake-x", ""])
def test_an_instance_name_that_is_not_step_k_is_refused_for_good(name: str, fake_accord: Path) -> None:
    argv = exec_start("accord-step@.service", name)
    done = subprocess.run(argv, env={**os.environ, "ACCORD_BIN": str(fake_accord)}, capture_output=True)  # noqa: S603
    assert done.returncode == 2  # RestartPreventExitStatus=2: systemd does not retry it
    assert unit("accord-step@.service")["Service"]["RestartPreventExitStatus"] == "2"


@pytest.mark.parametrize("service", [s for s in processes.SERVICES if s not in NAMES])
def test_every_service_beside_the_steps_has_a_unit_that_runs_it(service: str) -> None:
    argv = exec_start(f"accord-{service}.service")
    assert argv[0].endswith("/.venv/bin/accord") and argv[1:] == ["run", service]
    assert service in run_choices()
    assert unit(f"accord-{service}.service")["Install"]["WantedBy"] == "accord.target"
