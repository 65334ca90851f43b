"""tests/conftest.py itself: under CI an unlisted skip fails the run, a listed one does not,
and without CI nothing changes. Each case is a small pytest run with that conftest."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ALLOWED_SKIPS

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")
LISTED = next(iter(ALLOWED_SKIPS))


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST.read_text())
    monkeypatch.delenv("CI", raising=False)
    return pytester


def run(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ci: str | None, **files: str):
    if ci is not None:
        monkeypatch.setenv("CI", ci)
    project.makepyfile(**files)
    return project.runpytest("-p", "no:cacheprovider", "-rA")


UNLISTED = """
import pytest

def test_runs():
    pass

def test_needs_a_widget():
    pytest.skip("no widget here")
"""

LISTED_SKIP = f"""
import pytest

def test_runs():
    pass

@pytest.mark.skipif(True, reason={LISTED!r})
def test_listed():
    pass

def test_listed_inside():
    pytest.skip({LISTED!r})
"""

MODULE_SKIP = """
import pytest

pytest.importorskip("no_such_module_for_pinnrun_tests")

def test_never_collected():
    pass
"""

OTHER = """
def test_runs():
    pass
"""

FIXTURE_SKIP = """
import pytest

@pytest.fixture(scope="module")
def widget():
    pytest.skip("no widget here")

def test_uses_it(widget):
    pass
"""

XFAIL = """
import pytest

@pytest.mark.xfail(strict=True, reason="known bug")
def test_known_bug():
    assert False
"""


@pytest.mark.parametrize("ci", ["true", "1", "yes"])
def test_an_unlisted_skip_fails_under_ci(project, monkeypatch, ci) -> None:
    result = run(project, monkeypatch, ci, test_one=UNLISTED)
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*skipped under CI (no widget here), and that reason is not on ALLOWED_SKIPS*"])


def test_a_skip_in_a_fixture_fails_under_ci(project, monkeypatch) -> None:
    result = run(project, monkeypatch, "true", test_one=FIXTURE_SKIP)
    result.assert_outcomes(errors=1)  # the skip came at set-up
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_module_skipped_at_import_fails_the_run_under_ci_and_the_rest_still_runs(project, monkeypatch) -> None:
    result = run(project, monkeypatch, "true", test_skipped_module=MODULE_SKIP, test_other=OTHER)
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*skipped modules fail under CI*",
            "test_skipped_module.py: skipped under CI (could not import 'no_such_module_for_pinnrun_tests'*",
        ]
    )


@pytest.mark.parametrize("reason", sorted(ALLOWED_SKIPS))
def test_a_listed_skip_passes_under_ci(project, monkeypatch, reason) -> None:
    assert ALLOWED_SKIPS[reason].strip()  # every entry says why
    result = run(project, monkeypatch, "true", test_one=LISTED_SKIP.replace(repr(LISTED), repr(reason)))
    result.assert_outcomes(passed=1, skipped=2)
    assert result.ret == pytest.ExitCode.OK


def test_an_xfail_is_not_a_skip(project, monkeypatch) -> None:
    result = run(project, monkeypatch, "true", test_one=XFAIL)
    result.assert_outcomes(xfailed=1)
    assert result.ret == pytest.ExitCode.OK


@pytest.mark.parametrize("ci", [None, "", "0", "false", "False"])
def test_without_ci_a_skip_stays_a_skip(project, monkeypatch, ci) -> None:
    result = run(
        project, monkeypatch, ci, test_one=UNLISTED, test_skipped_module=MODULE_SKIP, test_fixture=FIXTURE_SKIP
    )
    result.assert_outcomes(passed=1, skipped=3)
    assert result.ret == pytest.ExitCode.OK
    assert "skipped under CI" not in result.stdout.str()
