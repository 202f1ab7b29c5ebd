from __future__ import annotations

import pytest

from apexrl.deepracer.reward_check import (
    RewardCheckError,
    lint_file,
    lint_source,
    require_lint_clean,
    validate_reward_file,
)

CLEAN = "import math\n\ndef reward_function(params):\n    return math.cos(0.0)\n"


def _codes(source: str) -> list[tuple[int, str]]:
    return [(i.line, i.code) for i in lint_source(source)]


@pytest.mark.parametrize(
    "source",
    [
        CLEAN,
        "import numpy as np\nimport numpy.linalg\nfrom scipy import spatial\n"
        "from shapely.geometry import Point\nimport random\n"
        "def reward_function(params):\n    return 1.0\n",
        "def reward_function(params, verbose=False):\n    return 1.0\n",
        "def reward_function(*args):\n    return 1.0\n",
    ],
)
def test_clean_sources_pass(source):
    assert lint_source(source) == []


@pytest.mark.parametrize(
    ("source", "expected", "fragment"),
    [
        ("import os\n" + CLEAN, [(1, "import")], "import of 'os' (allowed: math, random, numpy"),
        ("from os import path\n" + CLEAN, [(1, "import")], "import from 'os'"),
        ("import numpyx\n" + CLEAN, [(1, "import")], "import of 'numpyx'"),
        ("from . import helper\n" + CLEAN, [(1, "import")], "import from '.'"),
        (CLEAN + "open('x')\n", [(5, "builtin")], "call to banned builtin 'open'"),
        (CLEAN + "run = eval\n", [(5, "builtin")], "use of banned builtin 'eval'"),
        (CLEAN + "x = __builtins__\n", [(5, "builtin")], "use of banned builtin '__builtins__'"),
        (CLEAN + "m = math.__import__\n", [(5, "builtin")], "'__import__'"),
        (
            CLEAN + "exec('1')\ncompile('1', 'f', 'eval')\ninput()\n__import__('os')\n",
            [(5, "builtin"), (6, "builtin"), (7, "builtin"), (8, "builtin")],
            "call to banned builtin 'exec'",
        ),
        ("def reward(params):\n    return 1\n", [(1, "definition")], "no module-level"),
        (
            "def reward_function(params, track):\n    return 1\n",
            [(1, "definition")],
            "reward_function(params, track)",
        ),
        ("def reward_function():\n    return 1\n", [(1, "definition")], "exactly one argument"),
        ("async def reward_function(params):\n    return 1\n", [(1, "definition")], "async"),
        ("def reward_function(params)\n    return 1\n", [(1, "syntax")], "syntax error"),
    ],
)
def test_lint_findings(source, expected, fragment):
    issues = lint_source(source)
    assert [(i.line, i.code) for i in issues] == expected
    assert fragment in issues[0].message


def test_lint_file_and_require_clean(fixture_path, tmp_path):
    assert lint_file(fixture_path("lookahead_wrap")) == []
    assert [i.code for i in lint_file(fixture_path("banned_import"))] == ["import"]
    assert [i.code for i in lint_file(fixture_path("banned_open"))] == ["builtin"]
    with pytest.raises(RewardCheckError, match="line 3: import of 'os'"):
        require_lint_clean(fixture_path("banned_import"))
    with pytest.raises(FileNotFoundError):
        lint_file(tmp_path / "none.py")


# ---------------------------------------------------------------------- sample calls (subprocess)
@pytest.mark.parametrize(
    "name",
    [
        "lookahead_wrap",
        "globals_state",
        "class_state",
        "numpy_shapely",
        "scipy_random",
        "int_return",
        "prints_debug",
    ],
)
def test_community_styles_validate(fixture_path, name):
    report = validate_reward_file(fixture_path(name), "circle:radius=3,width=1.067", calls=60)
    assert report.ok, report.to_dict()
    assert report.calls_made == 60 and report.failures == ()
    assert report.reward_min is not None and report.reward_min >= 0.0


def test_plain_lookahead_fails_at_the_seam(fixture_path):
    report = validate_reward_file(fixture_path("lookahead_plain"), "circle:radius=3,width=1.067")
    assert not report.ok
    first = report.failures[0]
    assert first.kind == "exception" and first.step is not None
    assert "IndexError: list index out of range" in first.message
    assert "lookahead_plain.py" in first.message and "line 10, in reward_function" in first.message


def test_object_avoidance_needs_objects(fixture_path):
    path = fixture_path("object_avoidance")
    with_objects = validate_reward_file(path, calls=40, n_objects=3)
    assert with_objects.ok, with_objects.to_dict()
    time_trial = validate_reward_file(path, calls=40, n_objects=0)
    assert time_trial.failures[0].kind == "exception"
    assert "IndexError" in time_trial.failures[0].message


def test_step_one_initialisation_fails_on_the_current_simulator(fixture_path):
    path = fixture_path("init_on_step1")
    current = validate_reward_file(path, calls=10)
    assert current.failures[0].step == 2
    assert "KeyError: 'start_progress'" in current.failures[0].message
    legacy = validate_reward_file(path, calls=10, first_step=1)
    assert legacy.ok, legacy.to_dict()


def test_nan_reports_step_and_value(fixture_path):
    report = validate_reward_file(fixture_path("returns_nan"), calls=10, max_failures=2)
    assert [(f.step, f.kind, f.value) for f in report.failures] == [
        (5, "value", "nan"),
        (6, "value", "nan"),
    ]
    assert report.calls_made == 5  # stopped after two failures


def test_hang_is_stopped_by_the_time_limit(fixture_path):
    report = validate_reward_file(fixture_path("hangs"), calls=5, timeout_s=0.5)
    assert [(f.kind, f.step) for f in report.failures] == [("timeout", 2)]
    assert report.failures[0].message == "the call did not finish within 0.5 s"


def test_lint_failure_skips_the_calls(fixture_path):
    report = validate_reward_file(fixture_path("banned_open"))
    assert not report.ok and report.calls_made == 0
    assert report.notes == ("sample calls skipped: lint failed",)
    data = report.to_dict()
    assert data["ok"] is False and data["lint"][0]["code"] == "builtin"


def test_import_error_is_a_load_failure(tmp_path):
    path = tmp_path / "bad_import.py"
    path.write_text("import numpy.no_such_module\n\ndef reward_function(params):\n    return 1.0\n")
    report = validate_reward_file(path, calls=3)
    assert [f.kind for f in report.failures] == ["load"]
    assert "ModuleNotFoundError" in report.failures[0].message
    with pytest.raises(ValueError, match="calls must be >= 1"):
        validate_reward_file(path, calls=0)


def test_worker_exit_is_a_crash(tmp_path):
    path = tmp_path / "quits.py"
    path.write_text(
        "def reward_function(params):\n"
        "    if params['steps'] == 4:\n"
        "        raise SystemExit(3)\n"
        "    return 1.0\n"
    )
    report = validate_reward_file(path, calls=10)
    assert [(f.kind, f.step, f.message) for f in report.failures] == [
        ("crash", 4, "the worker process died (exit code 3)")
    ]
    assert report.calls_made == 3 and report.reward_max == 1.0
