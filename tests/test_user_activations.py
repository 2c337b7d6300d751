"""A user's activation: --activation NAME=MODULE:ATTR and the entry-point group, the one-sentence answer to each
kind of bad input, the facts measured where an entry omits them, and the report card."""
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from models.activations import ACTIVATIONS
from models.user_activations import ENTRY_POINT_GROUP, UserActivation, entry_for, load_spec

ROOT = Path(__file__).resolve().parent.parent

# A package of the user's, written into the scratch folder: squareplus (So 2021), a smooth rectifier, with the facts
# its author knows, and functions that break each rule.
USER_PACKAGE = {
    "acts_under_test/__init__.py": "",
    "acts_under_test/functions.py": '''
import torch
from models.user_activations import UserActivation

def squareplus(x):
    """(x + sqrt(x^2 + 4)) / 2 without overflow (hypot, halves added) or cancellation (x + h = 4 / (h - x), x < 0)."""
    h = torch.hypot(x, torch.full_like(x, 2.0))
    return torch.where(x >= 0, 0.5 * x + 0.5 * h, 2.0 / (h - x))

stated = UserActivation(fn=squareplus, output_range=(0.0, float("inf")), zero_centered=False, kinks={}, init="he")
not_a_function = 3

def sums(x):
    return x.sum(-1)

def to_double(x):
    return x.double()

def reciprocal(x):
    return 1 / x

def raises(x):
    raise ValueError("not today")
''',
}


@pytest.fixture
def user_project(project: pytest.Pytester) -> pytest.Pytester:
    for path, text in USER_PACKAGE.items():
        (project.path / path).parent.mkdir(parents=True, exist_ok=True)
        (project.path / path).write_text(text)
    project.syspathinsert()
    return project


@pytest.mark.parametrize("spec, problem", [
    ("squareplus", "write NAME=MODULE:ATTR"),
    ("x=no_such_module:f", "module no_such_module does not import (ModuleNotFoundError"),
    ("x=acts_under_test.functions:missing", "module acts_under_test.functions has no attribute missing"),
    ("x=acts_under_test.functions:not_a_function", "a int is not callable"),
    ("x=acts_under_test.functions:sums", "an activation works elementwise and keeps shape and dtype"),
    ("x=acts_under_test.functions:to_double", "an activation works elementwise and keeps shape and dtype"),
    ("x=acts_under_test.functions:reciprocal", "it gives inf at x = 0"),
    ("x=acts_under_test.functions:raises", "raised ValueError: not today"),
    ("relu=acts_under_test.functions:stated", "the name relu is taken by a built-in activation; choose another"),
    ("2x=acts_under_test.functions:stated", "must be letters, digits and underscores"),
])
def test_bad_input_is_one_sentence_and_exit_status_4(user_project, spec, problem):
    result = user_project.runpytest("-p", "no:cacheprovider", "--activation", spec)
    assert result.ret == pytest.ExitCode.USAGE_ERROR == 4
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: --activation {spec}: ") and problem in errors[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_two_entries_of_one_name_clash_and_the_registry_is_left_as_it_was(user_project):
    before = dict(ACTIVATIONS)
    result = user_project.runpytest("-p", "no:cacheprovider", "--activation", "sq=acts_under_test.functions:stated",
                                    "--activation", "sq=acts_under_test.functions:squareplus")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --activation sq=acts_under_test.functions:squareplus: the name sq is taken by "
                                 "--activation sq=acts_under_test.functions:stated; choose another*"])
    assert ACTIVATIONS == before


def test_a_bare_callable_has_every_fact_measured_and_marked():
    mish = load_spec("mish_in_a_test=torch.nn.functional:mish")   # a name no run passes with --activation
    assert mish.measured == {"derivative", "output_range", "zero_centered", "init", "derivative_bound",
                             "saturation", "hard_zero", "monotone", "family"}
    assert mish.output_range[0] == pytest.approx(-0.30884, abs=1e-4) and math.isinf(mish.output_range[1])
    assert (mish.family, mish.saturation, mish.init, mish.zero_centered, mish.hard_zero) == (
        "rectifier", "negative side", "he", False, False)
    x, y = mish.non_monotone_witness
    assert x < y and F.mish(torch.tensor(x, dtype=torch.float64)) > F.mish(torch.tensor(y, dtype=torch.float64))
    assert mish.kinks is None and mish.derivative_bound == pytest.approx(1.0885, abs=1e-3)
    z = torch.linspace(-5, 5, 101, dtype=torch.float64)
    torch.testing.assert_close(mish.derivative(z), torch.autograd.functional.jacobian(F.mish, z).diagonal())


def test_measured_facts_agree_with_the_registry_where_a_built_in_states_them():
    for name in ("relu", "tanh", "sigmoid", "selu", "leaky_relu"):
        stated = ACTIVATIONS[name]
        measured = entry_for(f"{name}_again", stated.fn, "a test")
        facts = ("family", "saturation", "hard_zero", "zero_centered", "monotone")
        assert [getattr(measured, f) for f in facts] == [getattr(stated, f) for f in facts], name
        # The init follows the family; SELU's LeCun init is its own (Klambauer et al.'s fixed point): state it.
        assert measured.init == ("he" if name == "selu" else stated.init), name
        assert measured.derivative_bound == pytest.approx(stated.derivative_bound, abs=1e-3), name


def test_stated_facts_are_kept_and_only_the_rest_measured():
    entry = entry_for("sq", UserActivation(fn=F.softplus, output_range=(0.0, math.inf), zero_centered=False,
                                           kinks={}, init="he"), "a test")
    assert {"output_range", "zero_centered", "init", "kinks"}.isdisjoint(entry.measured)
    assert entry.output_range == (0.0, math.inf) and entry.kinks == {} and entry.init == "he"


def run_in_subprocess(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    """A fresh process: the registry's users are read when modules are collected, which an in-process run, reusing
    this process's imported modules, would not repeat."""
    return project.runpytest_subprocess("-p", "no:cacheprovider", "--rootdir", str(ROOT), "-c",
                                        str(ROOT / "pyproject.toml"), *args)


def test_the_property_tests_run_on_a_users_activation(user_project):
    result = run_in_subprocess(user_project, str(ROOT / "tests" / "test_activation_properties.py"), "-k", "sq",
                               "--activation", "sq=acts_under_test.functions:stated")
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and outcomes["passed"] >= 8, result.stdout.str()[-2000:]


def test_a_users_activation_gets_a_report_card_with_its_plots(user_project):
    result = run_in_subprocess(user_project, str(ROOT / "profiles"), "--activation", "sq=acts_under_test.functions:stated",
                               "--claims-report", "out", "-k", "not depth")   # the CNNs take most of the time
    assert result.ret == 0, result.stdout.str()[-2000:]
    html = (user_project.path / "out" / "report.html").read_text()
    assert '<h2>Report card: sq</h2>' in html and html.count('data-kind="card-') == 2
    assert "two-moons test accuracy" in html and "(measured)" in html
    assert {"card-sq-curves.png", "card-sq-depth.png"} <= {p.name for p in (user_project.path / "out" / "plots").iterdir()}


def test_a_package_ships_an_activation_under_the_entry_point_group(user_project):
    info = user_project.path / "acts_under_test-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acts_under_test\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nsquareplus = acts_under_test.functions:stated\n")
    result = run_in_subprocess(user_project, str(ROOT / "tests" / "test_activation_properties.py"), "-k",
                               "squareplus and range")
    assert result.ret == 0 and result.parseoutcomes()["passed"] >= 2, result.stdout.str()[-2000:]
