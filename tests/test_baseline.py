"""Regression baselines: --claims-baseline-update writes one, --claims-baseline compares a run with it."""
import json
import math

import pytest

from harness.outputs import baseline
from test_plugin import run


MODULE = '''
from harness.claim import Claim
from harness.stats import mean_test

TOY = Claim(id="toy-claim", source="000.txt", quote="q", statement="s", document={{"gap": 2.0}})
GAP = {gap}

@TOY.check(expected="supported")
def test_gap_is_positive(scale, evidence):
    evidence.measure(gap=GAP, runs=len(GAP))
    evidence.conclude(mean_test(GAP, 0.0, name="gap"), null=mean_test([-g for g in GAP], 0.0))

@TOY.check(expected="supported")
def test_gap_is_below_ten(scale, evidence):
    evidence.conclude(mean_test(GAP, 10.0, side="below", name="gap"), null=mean_test(GAP, 0.0, side="below"))
'''
GAP = [1.9, 2.1, 2.0]
SHIFTED = [2.9, 3.1, 3.0]


def write_module(project, gap=GAP, extra=""):
    project.makepyfile(test_toy=MODULE.format(gap=gap) + extra)


def stored(project) -> dict:
    return json.loads((project.path / "base.json").read_text())


def store(project, content: dict) -> None:
    (project.path / "base.json").write_text(json.dumps(content))


@pytest.fixture
def based(project):
    """A project whose baseline.json was written from GAP."""
    write_module(project)
    result = run(project, "--claims-baseline", "base.json", "--claims-baseline-update")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*wrote base.json: 2 checks, 2 of them from this run."])
    return project


def test_the_baseline_holds_the_setup_and_each_checks_verdict_and_numbers_with_tolerances(based):
    content = stored(based)
    assert content["written"]["versions"].keys() >= {"python", "torch", "numpy"}
    assert content["written"]["device"].startswith("cpu") and content["written"]["base_seed"] == 0
    entry = next(e for e in content["checks"] if e["check"] == "test_gap_is_positive")
    assert (entry["claim"], entry["scale"], entry["verdict"]) == ("toy-claim", "fast", "supported")
    assert set(entry["numbers"]) == {"effect", "null control effect", "measured.gap", "measured.runs"}
    assert entry["numbers"]["measured.gap"] == {"value": GAP, "tolerance": {"absolute": baseline.ABSOLUTE,
                                                                            "relative": baseline.RELATIVE}}
    effect = entry["numbers"]["effect"]
    assert effect["value"] == pytest.approx(2.0) and 0.3 < effect["tolerance"]["absolute"] < 0.5


def test_a_rerun_with_the_same_numbers_passes(based):
    result = run(based, "--claims-baseline", "base.json")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*claims baseline base.json*",
                                 "2 checks compared, 0 drifts; 0 in the baseline did not run (not compared); 0 new."])


def test_numbers_beyond_their_tolerance_fail_the_run_with_a_table(based):
    write_module(based, gap=SHIFTED)
    result = run(based, "--claims-baseline", "base.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=2)
    result.stdout.re_match_lines([r"claim +check +scale +number +baseline +now +tolerance",
                                  r"toy-claim +test_gap_is_positive +fast +effect +2 +3 +± 0\.4\d*$",
                                  r"toy-claim +test_gap_is_positive +fast +measured\.gap +\[1\.9, 2\.1, 2\] "
                                  r"+\[2\.9, 3\.1, 3\] +± 1e-12 \+ 0\.05 x \|baseline\|",
                                  r"2 checks compared, 5 drifts \(so this run fails\); .*"])
    assert "measured.runs" not in result.stdout.str()


def test_edited_tolerances_are_obeyed_and_survive_a_refresh(based):
    content = stored(based)
    for entry in content["checks"]:
        for number in entry["numbers"].values():
            number["tolerance"] = {"absolute": 5.0, "relative": 0.0}
    store(based, content)
    write_module(based, gap=SHIFTED)
    assert run(based, "--claims-baseline", "base.json").ret == pytest.ExitCode.OK
    run(based, "--claims-baseline", "base.json", "--claims-baseline-update")
    refreshed = stored(based)["checks"][0]["numbers"]
    assert all(n["tolerance"] == {"absolute": 5.0, "relative": 0.0} for n in refreshed.values())
    assert refreshed["effect"]["value"] == pytest.approx(3.0)


def test_a_changed_verdict_is_drift(based):
    content = stored(based)
    content["checks"][0]["verdict"] = "refuted"
    store(based, content)
    result = run(based, "--claims-baseline", "base.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.re_match_lines([r"toy-claim +test_gap_is_\w+ +fast +verdict +refuted +supported +must match"])


def test_checks_that_did_not_run_are_counted_and_new_checks_listed(based):
    write_module(based, extra=MODULE.split("GAP = {gap}")[1].replace("_below_ten", "_below_eleven"))
    result = run(based, "--claims-baseline", "base.json", "-k", "not below_ten")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["1 checks compared, 0 drifts; 1 in the baseline did not run (not compared); 1 new:",
                                 "  new: toy-claim test_gap_is_below_eleven (fast)"])


def test_a_baseline_from_another_setup_is_compared_and_says_so(based):
    content = stored(based)
    content["written"]["versions"]["torch"] = "1.0.0"
    content["written"]["device"] = "cuda (some GPU)"
    store(based, content)
    result = run(based, "--claims-baseline", "base.json")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["note: base.json was written with another setup: torch 1.0.0 (now *); "
                                 "device cuda (some GPU) (now cpu*)", "2 checks compared, 0 drifts*"])


def test_refreshing_from_another_setup_starts_afresh(based):
    content = stored(based)
    content["written"]["base_seed"] = 7
    store(based, content)
    run(based, "--claims-baseline", "base.json", "--claims-baseline-update", "-k", "positive")
    content = stored(based)
    assert content["written"]["base_seed"] == 0 and [e["check"] for e in content["checks"]] == ["test_gap_is_positive"]


@pytest.mark.parametrize("content, says", [
    (None, "no such file; write one first with --claims-baseline-update."),
    ("{not json", "not JSON (Expecting property name*); rewrite it with --claims-baseline-update."),
    ("[]", "not a baseline file, since it holds a JSON list, not an object; rewrite it with --claims-baseline-update."),
    ('{"a": 1}', "not a baseline file, since its format is None, not 2; rewrite it*"),
    ('{"format": 99, "checks": []}', "not a baseline file, since its format is 99, not 2; rewrite it*"),
    ('{"format": 2, "checks": []}', "not a baseline file, since its 'written' entry lacks the versions, device or "
                                    "base seed; rewrite it*"),
    ('{"format": 2, "written": {"versions": {}, "device": "cpu", "base_seed": 0}, "checks": [{"claim": "c"}]}',
     "not a baseline file, since a check entry lacks its claim, check, scale or verdict*"),
    ('{"format": 2, "written": {"versions": [], "device": "cpu", "base_seed": 0}, "checks": []}',
     "not a baseline file, since its 'written' versions are not an object*"),
    ('{"format": 2, "written": {"versions": {}, "device": "cpu", "base_seed": 0}, "checks": [{"claim": "c", '
     '"check": "t", "scale": "fast", "verdict": "supported", "numbers": {"gap": {"value": 1.0, '
     '"tolerance": {"absolute": "inf", "relative": 0.05}}}}]}',
     "not a baseline file, since gap of t needs a tolerance with numeric absolute and relative parts*"),
])
def test_a_missing_or_unreadable_baseline_is_a_one_sentence_usage_error(project, content, says):
    write_module(project)
    if content is not None:
        (project.path / "base.json").write_text(content)
    result = run(project, "--claims-baseline", "base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.errlines if line.strip()] == [result.errlines[0]]
    result.stderr.fnmatch_lines([f"ERROR: --claims-baseline base.json: {says}"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("args, says", [
    (["--claims-baseline-update"], "--claims-baseline-update needs --claims-baseline FILE: the file to write."),
    (["--claims-baseline", ".", "--claims-baseline-update"], "--claims-baseline .: that path is a folder*"),
    (["--claims-baseline", "pyproject.toml/base.json", "--claims-baseline-update"],
     "*cannot write it there, since pyproject.toml is a file, not a folder*; choose a folder you can write to."),
    (["--claims-baseline", "/proc/nope/base.json", "--claims-baseline-update"],
     "*cannot write it there, since /proc does not take new files*; choose a folder you can write to."),
])
def test_a_baseline_that_cannot_be_written_is_a_usage_error(project, args, says):
    write_module(project)
    result = run(project, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.errlines if line.strip()] == [result.errlines[0]]
    result.stderr.fnmatch_lines([f"ERROR: {says}"])


def test_drift_is_found_under_xdist(based):
    write_module(based, gap=SHIFTED)
    result = run(based, "-n", "1", "--claims-baseline", "base.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.re_match_lines([r"toy-claim +test_gap_is_positive +fast +effect +2 +3 .*"])


def record(decision: dict | None = None, **measured) -> dict:
    return {"claim": "c", "check": "t", "scale": "fast", "verdict": "supported", "measured": measured,
            "decision": decision}


def decision(effect: float, interval: tuple[float, float], threshold: float) -> dict:
    return {"effect": effect, "interval": list(interval), "threshold": threshold}


@pytest.mark.parametrize("interval, threshold, absolute", [
    ((1.0, 3.0), 0.0, 1.0),         # a confidence interval: its half-width
    ((2.0, 2.0), 0.5, 0.75),        # an exact decision: half the way to the threshold
    ((2.0, 2.0), 2.0, baseline.ABSOLUTE),
    ((-math.inf, math.inf), 0.0, 1.0),
])
def test_a_decisions_default_tolerance_is_its_half_width_or_half_its_margin(interval, threshold, absolute):
    tolerance = baseline.numbers_of(record(decision(2.0, interval, threshold)))["effect"]["tolerance"]
    assert tolerance["absolute"] == pytest.approx(absolute)


def test_lists_compare_element_by_element_and_a_changed_length_or_a_nan_is_drift():
    setup = baseline.provenance({"torch": "2"}, "cpu", 0)
    then = baseline.refreshed(None, [record(curve=[1.0, 2.0], count=3, flags={"on": 0.5}, label="x")], setup)
    assert set(then["checks"][0]["numbers"]) == {"measured.curve", "measured.count", "measured.flags.on"}

    def drifted(**measured) -> list[str]:
        return [d.number for d in baseline.compare(then, [record(**measured)], setup).drifts]

    now = {"curve": [1.0, 2.0], "count": 3, "flags": {"on": 0.5}}
    assert drifted(**now) == []
    assert drifted(**now | {"curve": [1.0, 2.05]}) == []
    assert drifted(**now | {"curve": [1.0, 2.2]}) == ["measured.curve"]
    assert drifted(**now | {"curve": [1.0, 2.0, 3.0]}) == ["measured.curve"]
    assert drifted(**now | {"count": "nan"}) == ["measured.count"]
    assert drifted(curve=[1.0, 2.0], count=3) == ["measured.flags.on"]


def test_a_drift_row_names_the_checks_parameters_but_not_its_scale_twice():
    setup = baseline.provenance({"torch": "2"}, "cpu", 0)
    then = baseline.refreshed(None, [record(x=1.0) | {"test": "t[fast-tanh]"}, record(x=1.0) | {"test": "t[fast-elu]"}],
                              setup)
    (drift,) = baseline.compare(then, [record(x=1.0) | {"test": "t[fast-tanh]"}, record(x=2.0) | {"test": "t[fast-elu]"}],
                                setup).drifts
    assert (drift.check, drift.scale, drift.number, drift.baseline, drift.now) == ("t[elu]", "fast", "measured.x", "1", "2")


def test_a_check_that_timed_something_is_compared_by_its_verdict_alone():
    setup = baseline.provenance({"torch": "x"}, "cpu (x86_64)", 0)
    timed = {"claim": "toy-claim", "check": "test_cost", "scale": "fast", "verdict": "supported", "timed": True,
             "measured": {"relu_ms": 1.0}, "decision": {"effect": 0.9, "interval": [0.8, 1.0], "threshold": 0.5}}
    stored_baseline = baseline.refreshed(None, [timed], setup)
    slower = {**timed, "measured": {"relu_ms": 3.0}, "decision": {**timed["decision"], "effect": 0.6}}
    assert baseline.compare(stored_baseline, [slower], setup).drifts == []
    (drift,) = baseline.compare(stored_baseline, [{**slower, "verdict": "refuted"}], setup).drifts
    assert (drift.number, drift.baseline, drift.now) == ("verdict", "supported", "refuted")
