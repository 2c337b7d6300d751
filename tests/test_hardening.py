"""What a run does when things go wrong: interrupts, bad report folders, missing or damaged data, diverged
training, damaged caches. Each gives one sentence, no traceback, and keeps what was already written."""
import json
import os
import re
import signal
import warnings
from pathlib import Path

import numpy as np
import pytest

from harness.evidence import ClaimCheckFailed, Evidence
from harness.experiments import cifar
from harness.experiments.sweep import ModelResult, read_cache, write_cache
from harness.outputs import files
from harness.stats import all_of, exact_test, mean_test, paired_test, slope_test, within_test
from harness.verdicts import Verdict
from test_plugin import ROOT, run


CHECKS = '''
import pytest
from harness.claim import Claim
from harness.stats import mean_test

TOY = Claim(id="toy-claim", source="000.txt", quote="q", statement="s")

def conclude(evidence, values):
    evidence.measure(values=values)
    evidence.conclude(mean_test(values, 0.0), null=mean_test([-v for v in values], 0.0))
'''


def check(name: str, body: str = "conclude(evidence, [1.9, 2.1, 2.0])") -> str:
    return f'''
@TOY.check(expected="supported")
def test_{name}(scale, evidence, request):
    {body}
'''


def one_paragraph_failure(result: pytest.RunResult, message: str) -> None:
    """The failure shows `message` and nothing of the code that raised it: no source lines, no file:line."""
    output = result.stdout.str()
    result.stdout.fnmatch_lines([message])
    # the section ends where pytest's own summaries begin (its warnings name pytest's files and lines)
    failures = re.split(r"warnings summary|short test summary info", re.split("= (?:FAILURES|ERRORS) =", output)[1])[0]
    assert "Traceback" not in output and "raise " not in failures and not re.search(r"\.py:\d+", failures), failures


def test_an_interrupted_run_keeps_the_evidence_of_every_finished_check(project):
    project.makepyfile(test_toy=CHECKS + check("first") + check("second") + check("third", "raise KeyboardInterrupt")
                       + check("fourth"))
    result = project.runpytest("-p", "no:cacheprovider", "--claims-report", "out", no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    records = json.loads((project.path / "out" / "claims.json").read_text())
    assert [r["check"] for r in records if r["verdict"] == "supported"] == ["test_first", "test_second"]
    assert [p.name for p in (project.path / "out").iterdir() if p.name.startswith(".")] == []


def test_a_run_killed_outright_keeps_the_evidence_of_every_finished_check(project):
    """SIGKILL (the OOM killer, a closed CI job) runs no hook at all: only the copy written after each check remains."""
    kill = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    project.makepyfile(test_toy=CHECKS + check("first") + check("second") + check("third", kill))
    result = project.runpytest_subprocess("-p", "no:cacheprovider", "--claims-report", "out")
    assert result.ret == -signal.SIGKILL
    records = json.loads((project.path / "out" / "claims.json").read_text())
    assert [r["check"] for r in records] == ["test_first", "test_second"]


def test_claims_json_is_rewritten_after_each_finished_check(project):
    peek = ("import json, pathlib\n    records = json.loads(pathlib.Path('out/claims.json').read_text())\n"
            "    assert [r['check'] for r in records] == ['test_first']\n    conclude(evidence, [1.0, 1.2, 1.1])")
    project.makepyfile(test_toy=CHECKS + check("first") + check("second", peek))
    run(project, "--claims-report", "out").assert_outcomes(passed=2)


def test_an_atomic_write_that_is_interrupted_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "claims.json"
    files.write_atomically(path, "old")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.write_atomically(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["claims.json"]


def project_modules() -> list[Path]:
    return [*sorted((ROOT / "harness").rglob("*.py")), *sorted((ROOT / "models").rglob("*.py"))]


EXEMPT = {
    "files.py": "the atomic writer itself",
    "cifar.py": "reads the dataset's own pickled format (and writes nothing)",
    "flake.py": "streams each pytest run's output into a log as it comes",
}


def test_the_projects_own_files_are_written_atomically_and_never_pickled():
    """Evidence, reports, baselines and caches go through harness.outputs.files.write_atomically; nothing is pickled."""
    writes = re.compile(r"\.write_(text|bytes)\(|open\([^)]*['\"][wa]b?['\"]|\bpickle\b|torch\.save\(")
    offenders = [f"{path.name}: {line.strip()}" for path in project_modules() if path.name not in EXEMPT
                 for line in path.read_text().splitlines() if writes.search(line)]
    assert offenders == []
    assert "pickle.dump" not in (ROOT / "harness" / "experiments" / "cifar.py").read_text()


@pytest.mark.parametrize("report, says", [
    ("pyproject.toml/out", "--claims-report pyproject.toml/out: pyproject.toml is a file, not a folder*"),
    ("locked/out", "--claims-report locked/out: locked is not writable; choose a folder you can write to*"),
    ("/proc/nope", "--claims-report /proc/nope: /proc does not take new files*; choose a folder you can write to*"),
])
def test_a_report_folder_that_cannot_be_made_is_a_one_sentence_usage_error(project, monkeypatch, report, says):
    project.makepyfile(test_toy=CHECKS + check("first"))
    (project.path / "locked").mkdir()
    access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path).name != "locked" and access(path, mode))
    result = run(project, "--claims-report", report)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {says}"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_a_report_folder_lost_mid_run_is_one_sentence_and_the_checks_still_count(project):
    lose = "import pathlib, shutil; shutil.rmtree('out'); pathlib.Path('out').write_text('a file now')"
    project.makepyfile(test_toy=CHECKS + check("first") + check("second", f"{lose}\n    conclude(evidence, [1.0, 1.2, 1.1])"))
    result = run(project, "--claims-report", "out")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["could not write out/claims.json: *.", "could not write the report in out: *."])
    assert "Traceback" not in result.stdout.str()


FULL_SCALE = CHECKS + '''
@TOY.check(expected="supported", scales=("full",), reason="the toy's own numbers")
def test_needs_cifar(scale, evidence, request):
    request.getfixturevalue("cifar10")
    conclude(evidence, [1.9, 2.1, 2.0])
'''


def test_a_missing_dataset_skips_the_full_scale_check_with_the_reason(project):
    project.makepyfile(test_toy=FULL_SCALE)
    result = run(project, "--device", "cpu", "--data-dir", "nowhere", "--claims-report", "out")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["toy-claim*predicted supported*skipped: CIFAR-10 is not in nowhere*(no such folder): put the*..."])
    (record,) = json.loads((project.path / "out" / "claims.json").read_text())
    assert record["verdict"] == "skipped" and record["skip_reason"].endswith(
        "or pass --download to fetch it. (that folder came from --data-dir nowhere)")


def test_a_data_dir_that_is_a_file_fails_the_full_scale_check_naming_where_it_came_from(project, monkeypatch):
    project.makepyfile(test_toy=FULL_SCALE)
    monkeypatch.setenv("CLAIMS_DATA", str(project.path / "pyproject.toml"))
    result = run(project, "--device", "cpu")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    one_paragraph_failure(result, "*$CLAIMS_DATA=*pyproject.toml: that is a file; point it at the folder that holds "
                                  "(or will hold) cifar-10-batches-py.")
    result = run(project, "--device", "cpu", "--data-dir", "pyproject.toml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*--data-dir pyproject.toml: that is a file*"])


MODULE_FIXTURE = FULL_SCALE.replace('    request.getfixturevalue("cifar10")\n', "") .replace(
    "def test_needs_cifar(scale, evidence, request):", "def test_needs_cifar(scale, evidence, sweep):") + """
@pytest.fixture(scope="module")
def sweep(request):
    return request.getfixturevalue("cifar10")
"""


@pytest.mark.parametrize("module", [FULL_SCALE, MODULE_FIXTURE], ids=["in-the-check", "in-a-module-fixture"])
def test_a_corrupt_dataset_fails_the_full_scale_check_in_one_sentence_and_is_recorded(project, module):
    project.makepyfile(test_toy=module)
    folder = project.path / "data" / cifar.FOLDER
    folder.mkdir(parents=True)
    for name in (*cifar.TRAIN_FILES, cifar.TEST_FILE, cifar.META_FILE):
        (folder / name).write_bytes(b"not a pickle")
    result = run(project, "--device", "cpu", "--data-dir", "data", "--claims-report", "out")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    one_paragraph_failure(result, "*data_batch_1*it does not unpickle*")
    failures = re.split("= (?:FAILURES|ERRORS) =", result.stdout.str())[1].split("short test summary info")[0]
    assert failures.count("it does not unpickle") == 1  # the failure, without the exception under it
    result.stdout.fnmatch_lines(["toy-claim*-*error FAIL*"])
    (record,) = json.loads((project.path / "out" / "claims.json").read_text())
    assert (record["check"], record["verdict"], record["passed"]) == ("test_needs_cifar", "error", False)
    assert "data_batch_1" in record["failure"] and "it does not unpickle" in record["failure"]
    assert "## toy-claim" in (project.path / "out" / "report.md").read_text()


def test_a_wrong_verdict_fails_in_one_paragraph_without_a_traceback(project):
    project.makepyfile(test_toy=CHECKS + check("first", "conclude(evidence, [-1.0, -1.1, -0.9])"))
    result = run(project)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    one_paragraph_failure(result, "toy-claim: verdict refuted, expected supported. refuted: mean = *")
    result.stdout.fnmatch_lines(["FAILED test_toy.py::test_first[[]fast[]] - *ClaimCheckFailed: toy*"])


def test_a_diverged_seed_fails_its_check_in_one_sentence_and_is_recorded(project):
    project.makepyfile(test_toy=CHECKS + check("first") + check("diverged", "conclude(evidence, [1.0, float('nan'), 2.0])"))
    result = run(project, "--claims-report", "out")
    result.assert_outcomes(passed=1, failed=1)
    one_paragraph_failure(result, "toy-claim: the rule was given 1 NaN or infinite values (did a training run "
                                  "diverge?), so it decided nothing. inconclusive: mean = nan*")
    records = {r["check"]: r for r in json.loads((project.path / "out" / "claims.json").read_text())}
    assert records["test_first"]["passed"] is True
    diverged = records["test_diverged"]
    assert (diverged["verdict"], diverged["passed"], diverged["decision"]["nonfinite"]) == ("inconclusive", False, 1)
    assert diverged["measured"]["values"] == [1.0, "nan", 2.0]
    assert diverged["failure"].startswith("harness.evidence.ClaimCheckFailed: toy-claim: the rule was given 1 NaN")


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("decide, nonfinite", [
    (lambda: mean_test([1.0, NAN, 2.0, INF], 0.0), 2),
    (lambda: paired_test([1.0, 2.0, 3.0], [0.0, INF, 1.0]), 1),
    (lambda: within_test([1.0, NAN, 1.1], 0.5, 1.5), 1),
    (lambda: slope_test([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, NAN, 4.0], 0.0), 1),
    (lambda: exact_test(NAN, 1.0), 1),
    (lambda: all_of([mean_test([-5.0, -5.1, -4.9], 0.0), mean_test([1.0, NAN], 0.0)], "both"), 1),
])
def test_a_rule_given_nonfinite_values_is_inconclusive_and_says_how_many(decide, nonfinite):
    decision = decide()
    assert decision.verdict is Verdict.INCONCLUSIVE and decision.nonfinite == nonfinite
    assert re.search(rf"\b{nonfinite}\b[^;]* NaN or infinite", decision.rule), decision.rule
    assert np.isnan(decision.effect)


def toy_evidence() -> Evidence:
    from harness.claim import Claim
    return Evidence(Claim("c", "s", "q", "t"), "check", "fast", Verdict.SUPPORTED, "", "cpu", [0])


def test_a_nonfinite_control_fails_the_check_too():
    with pytest.raises(ClaimCheckFailed, match="the null control was given 1 NaN or infinite values"):
        toy_evidence().conclude(mean_test([1.9, 2.1, 2.0], 0.0), null=mean_test([-1.0, NAN], 0.0))


@pytest.mark.parametrize("controls", [{}, {"mirror": mean_test([-2.0, -1.9, -2.1], 0.0)}], ids=["none", "a mirror"])
def test_a_check_without_a_control_that_can_fail_fails(controls):
    with pytest.raises(ClaimCheckFailed, match="gives no negative control that can fail"):
        toy_evidence().conclude(mean_test([1.9, 2.1, 2.0], 0.0), **controls)


@pytest.mark.parametrize("kind", ["null", "shuffled", "mechanism_removed", "mirror"])
def test_a_supported_control_of_any_kind_fails_the_check_naming_its_kind(kind):
    controls = {"null": mean_test([0.1, -0.1, 0.0], 0.0), kind: mean_test([1.0, 1.2, 0.8], 0.0)}
    with pytest.raises(ClaimCheckFailed, match=f"the {kind} negative control came out supported"):
        toy_evidence().conclude(mean_test([1.9, 2.1, 2.0], 0.0), **controls)


def test_every_control_is_recorded_with_its_kind():
    evidence = toy_evidence()
    evidence.conclude(mean_test([1.9, 2.1, 2.0], 0.0), null=mean_test([0.1, -0.1, 0.0], 0.0),
                      mirror=mean_test([-2.0, -1.9, -2.1], 0.0))
    assert [c["kind"] for c in evidence.record(True, 0.1)["controls"]] == ["null", "mirror"]


def model(seed: int) -> ModelResult:
    return ModelResult("relu", 1, seed, [2.0, 1.0], [0.3, 0.5], [1.9, 1.1], [0.3, 0.4], [0.01, 0.02], [-1.0, -1.2],
                       initial_log_gradient_ratio=-0.9)


@pytest.mark.parametrize("change", ["versions", "device"])
def test_a_cache_from_other_versions_or_another_device_is_recomputed_with_a_warning(tmp_path, change):
    key = {"activation": "relu", "blocks": 1, "seeds": [0], "settings": {}, "data": "d", "device": "cpu",
           "versions": {"torch": "2.13.0", "numpy": "2.0"}}
    path = write_cache(tmp_path, key, [model(0)])
    stored = json.loads(path.read_text())
    stored["key"][change] = {"torch": "2.4.0", "numpy": "1.26"} if change == "versions" else "cuda"
    path.write_text(json.dumps(stored))
    with pytest.warns(UserWarning, match="holds results for another configuration; recomputing them"):
        assert read_cache(tmp_path, key) is None


def test_results_from_other_versions_live_in_a_file_of_their_own(tmp_path):
    key = {"activation": "relu", "blocks": 1, "seeds": [0], "settings": {}, "data": "d", "device": "cpu",
           "versions": {"torch": "2.13.0", "numpy": "2.0"}}
    write_cache(tmp_path, key, [model(0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_cache(tmp_path, key | {"versions": {"torch": "2.4.0", "numpy": "2.0"}}) is None
        assert read_cache(tmp_path, key) == [model(0)]


def test_a_folder_behind_one_that_cannot_be_searched_is_one_clause(monkeypatch, tmp_path):
    """Before Python 3.12, Path.exists raises where a folder on the way cannot be searched."""
    def unsearchable(path):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Path, "exists", unsearchable)
    assert files.folder_problem(tmp_path / "private" / "out") == (f"{tmp_path / 'private' / 'out'} cannot be "
                                                                   "reached (Permission denied)")
