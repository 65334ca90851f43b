"""Under CI (CI set, and not 0 or false) a skipped test fails the run, unless its reason is
on ALLOWED_SKIPS.

A suite that skips what it cannot run (a Horovod that does not import, reference data
that is missing) would otherwise stay green while testing nothing. Outside CI a skip
stays a skip: a developer's machine may lack what CI has.
"""

from __future__ import annotations

import os

import pytest

# The skip reason, exactly as the test gives it -> why CI may skip that test.
# Not listed, on purpose: ../shared/reference (CI has it beside the clone), Horovod, mpirun.
ALLOWED_SKIPS = {
    "this user (root) writes into a 0o555 folder anyway": "file modes do not stop root and CI runs as root, so no read-only folder can be made there; "
    "the test runs for any other user",
    "no GPU visible to TensorFlow": "CI runs on machines without a GPU (the brief: CI never depends on one); the GPU-marked tests "
    "run through scripts/gpu_check.sh on a machine that has one",
}


def in_ci(environ=os.environ) -> bool:
    return environ.get("CI", "").strip().lower() not in ("", "0", "false")


def pytest_configure(config) -> None:
    if in_ci():
        config.pluginmanager.register(SkipsFailInCI(), "pinnrun-skips-fail-in-ci")


def unlisted_skip(report) -> str | None:
    """The reason of a skip that is not on ALLOWED_SKIPS; None for anything else (an xfail is
    reported as skipped too, but it is an expected failure, not a skip)."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return None
    message = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = message.removeprefix("Skipped: ")  # a skip's longrepr is (path, line, "Skipped: reason")
    return None if reason in ALLOWED_SKIPS else reason


def why_failed(reason: str) -> str:
    return (
        f"skipped under CI ({reason}), and that reason is not on ALLOWED_SKIPS in tests/conftest.py: "
        "CI must run every test, or list the reason there with why it cannot"
    )


class SkipsFailInCI:
    """A skipped test becomes a failure; a skipped module (importorskip at its top, found
    while collecting) fails the session at its end, so the other tests still run."""

    def __init__(self) -> None:
        self.skipped_modules: dict[str, str] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = (yield).get_result()
        reason = unlisted_skip(report)
        if reason is not None:
            report.outcome, report.longrepr = "failed", why_failed(reason)

    def pytest_collectreport(self, report) -> None:
        reason = unlisted_skip(report)
        if reason is not None:
            self.skipped_modules[report.nodeid] = reason

    def pytest_sessionfinish(self, session) -> None:
        if self.skipped_modules and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.skipped_modules:
            terminalreporter.section("skipped modules fail under CI", red=True)
            for nodeid, reason in self.skipped_modules.items():
                terminalreporter.line(f"{nodeid}: {why_failed(reason)}")
