"""The root conftest's lane marks and ``slow`` mark, run the way a contributor runs them: the real file in a
small project, one session per lane."""

from __future__ import annotations

import pytest

from tests.support.paths import REPO

pytest_plugins = ["pytester"]

MARKED_TESTS = """
import pytest

@pytest.mark.moto_only(reason="moto writes a MODIFY record for an identical put")
def test_moto_only():
    pass

@pytest.mark.lanes("moto", "dynamodb-local", reason="reads the stream once, right after writing")
def test_embedded_lanes():
    pass

@pytest.mark.lanes("aws")
def test_aws_only():
    pass

@pytest.mark.slow
def test_slow():
    pass

def test_any_lane():
    pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest((REPO / "conftest.py").read_text())
    pytester.makepyfile(test_marked=MARKED_TESTS)
    return pytester


@pytest.mark.parametrize(
    ("lane", "passed", "skip_lines"),
    [
        ("moto", 4, ["*test_marked.py:*: needs lane aws; this session runs on moto"]),
        (
            "dynamodb-local",
            3,
            [
                "*: needs lane moto (moto writes a MODIFY record for an identical put); "
                "this session runs on dynamodb-local",
                "*: needs lane aws; this session runs on dynamodb-local",
            ],
        ),
        (
            "aws",
            3,
            [
                "*: needs lane moto (moto writes a MODIFY record for an identical put); this session runs on aws",
                "*: needs lane dynamodb-local or moto (reads the stream once, right after writing); "
                "this session runs on aws",
            ],
        ),
    ],
)
def test_a_test_of_other_lanes_is_skipped_with_one_line(
    project: pytest.Pytester, lane: str, passed: int, skip_lines: list[str]
) -> None:
    result = project.runpytest("--strict-markers", "-rs", f"--receipt-compaction-backend={lane}")
    result.assert_outcomes(passed=passed, skipped=5 - passed)
    result.stdout.fnmatch_lines(skip_lines, consecutive=False)


def test_not_slow_is_the_quick_run_and_the_default_run_runs_everything(project: pytest.Pytester) -> None:
    quick = project.runpytest("--strict-markers", "-m", "not slow")
    quick.assert_outcomes(passed=3, skipped=1, deselected=1)
    everything = project.runpytest("--strict-markers")
    everything.assert_outcomes(passed=4, skipped=1)


def test_the_marks_are_registered(project: pytest.Pytester) -> None:
    result = project.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.lanes(*names, reason=None): run only on these backends (moto, *aws)*",
            "@pytest.mark.moto_only(reason=None): *",
            "@pytest.mark.slow: *",
        ],
        consecutive=False,
    )


@pytest.mark.parametrize(
    ("marks", "problem"),
    [
        ("@pytest.mark.lanes('mot0', 'moto')", "lanes mark names unknown lane(s) 'mot0'"),
        ("@pytest.mark.lanes()", "a lanes mark needs at least one lane, e.g. @pytest.mark.lanes('moto')"),
        ("@pytest.mark.lanes('aws')\n@pytest.mark.moto_only", "its lanes marks allow no lane together"),
    ],
)
def test_a_bad_lane_mark_fails_its_test_naming_the_known_lanes(
    pytester: pytest.Pytester, marks: str, problem: str
) -> None:
    pytester.makeconftest((REPO / "conftest.py").read_text())
    pytester.makepyfile(test_bad=f"import pytest\n\n{marks}\ndef test_marked():\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [f"*test_bad.py::test_marked: {problem}; known lanes: moto, dynamodb-local, localstack, aws"]
    )
