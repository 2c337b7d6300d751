"""The plugin end to end, on small claim modules written into a scratch folder by pytester."""
import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent

CLAIM_MODULE = '''
from harness.claim import Claim
from harness.stats import exact_test, mean_test

TOY = Claim(id="toy-claim", source="000.txt", quote="q", statement="s", document={"gap": 2.0})

@TOY.check(expected="supported", scales=("fast", "full"), reason={"full": "the toy's fast result"})
def test_gap_is_positive(scale, evidence):
    evidence.measure(gap=[1.9, 2.1, 2.0])
    evidence.conclude(mean_test([1.9, 2.1, 2.0], 0.0, name="gap"), null=mean_test([-2.0, -1.9, -2.1], 0.0))
'''


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest("-p", "no:cacheprovider", *args)


@pytest.mark.parametrize("option, named", [
    (["--device", "tpu"], "--device tpu"),
    (["--claims-seed=-1"], "--claims-seed -1"),
    (["--claims-seed", "1.5"], "--claims-seed 1.5"),
    (["--claims-seed", "\u00b2"], "--claims-seed \u00b2"),
])
def test_bad_options_are_one_sentence_usage_errors(project, option, named):
    project.makepyfile(test_toy=CLAIM_MODULE)
    result = run(project, *option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: {named}:")
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_asking_for_cuda_without_a_gpu_is_a_usage_error(project):
    project.makepyfile(test_toy=CLAIM_MODULE)
    result = run(project, "--device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --device cuda: this machine has no CUDA GPU; use --device cpu or auto."])


def test_a_report_path_that_is_a_file_is_a_usage_error(project):
    project.makepyfile(test_toy=CLAIM_MODULE)
    result = run(project, "--claims-report", "pyproject.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --claims-report pyproject.toml: pyproject.toml is a file, not a folder; choose a folder*"])


def test_the_ledger_and_claims_json_carry_every_field(project):
    project.makepyfile(test_toy=CLAIM_MODULE)
    result = run(project, "-m", "fast", "--claims-report", "out")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*claims ledger (base seed 0, device cpu)*",
                                 "toy-claim*supported ok*gap *(doc 2)"])
    (record,) = json.loads((project.path / "out" / "claims.json").read_text())
    assert {"claim", "check", "scale", "verdict", "expected", "passed", "measured", "document", "seeds",
            "device", "duration_s", "versions"} <= record.keys()
    assert record["versions"].keys() >= {"python", "torch", "numpy"}
    assert (record["claim"], record["scale"], record["verdict"], record["passed"]) == ("toy-claim", "fast", "supported", True)
    report = (project.path / "out" / "report.md").read_text()
    assert "## toy-claim" in report and "Verdict **supported**, expected supported: as expected." in report
    assert "| gap | [1.9, 2.1, 2] | 2 |" in report and "Negative control (null): **refuted**" in report


def test_evidence_reaches_the_controller_under_xdist(project):
    project.makepyfile(test_toy=CLAIM_MODULE)
    result = run(project, "-n", "1", "--claims-report", "out")
    result.stdout.fnmatch_lines(["toy-claim*supported ok*skipped*"])
    scales = {r["scale"]: r for r in json.loads((project.path / "out" / "claims.json").read_text())}
    assert scales["fast"]["verdict"] == "supported"
    assert scales["full"]["verdict"] == "skipped" and "--device cpu" in scales["full"]["skip_reason"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_full_scale_checks_skip_without_a_gpu_and_run_with_device_cpu(project):
    project.makepyfile(test_toy=CLAIM_MODULE)
    run(project, "-m", "slow", "-rs").stdout.fnmatch_lines(["*needs a CUDA GPU and none was found; pass --device cpu*"])
    run(project, "-m", "slow", "--device", "cpu").assert_outcomes(passed=1, deselected=1)


@pytest.mark.parametrize("body, message", [
    ("evidence.conclude(mean_test([-1.0, -1.1, -0.9], 0.0), null=mean_test([-1.0, -1.2, -0.8], 0.0))",
     "*verdict refuted, expected supported*"),
    ("evidence.conclude(mean_test([1.0, 1.1, 0.9], 0.0), null=mean_test([1.0, 1.2, 0.8], 0.0))",
     "*negative control came out supported*"),
    ("evidence.measure(x=1.0)", "*concluded nothing*"),
])
def test_a_check_fails_on_a_wrong_verdict_an_accepted_control_or_no_conclusion(project, body, message):
    project.makepyfile(test_toy=CLAIM_MODULE.replace(
        "    evidence.measure(gap=[1.9, 2.1, 2.0])\n    evidence.conclude(mean_test([1.9, 2.1, 2.0], 0.0, name=\"gap\"), "
        "null=mean_test([-2.0, -1.9, -2.1], 0.0))", f"    {body}"))
    result = run(project, "-m", "fast", "--claims-report", "out")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([message, "toy-claim*FAIL*"])
    (record,) = json.loads((project.path / "out" / "claims.json").read_text())
    assert record["passed"] is False


def test_expecting_anything_but_supported_needs_a_reason(project):
    project.makepyfile(test_toy=CLAIM_MODULE.replace('expected="supported"', 'expected="refuted"'))
    result = run(project, "-m", "fast")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*expecting 'refuted' needs a reason=*"])


def test_a_full_scale_expectation_needs_its_basis(project):
    project.makepyfile(test_toy=CLAIM_MODULE.replace(', reason={"full": "the toy\'s fast result"}', ""))
    result = run(project, "-m", "fast")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*a full-scale expectation is a prediction until a run measures it*"])


def test_evidence_outside_a_claim_check_says_how_to_declare_one(project):
    project.makepyfile(test_plain="def test_plain(evidence):\n    pass\n")
    run(project).stdout.fnmatch_lines(["*is not a claim check: decorate it with CLAIM.check(expected=...)*"])


def test_check_seeds_follow_the_base_seed(project):
    project.makepyfile(test_seed="def test_seed(check_seed, record_property):\n    record_property('seed', check_seed)\n")

    def seed_with(base: str) -> str:
        result = run(project, "--claims-seed", base, "--junitxml", f"junit{base}.xml")
        result.assert_outcomes(passed=1)
        return (project.path / f"junit{base}.xml").read_text().split('name="seed" value="')[1].split('"')[0]

    assert seed_with("0") == seed_with("0") != seed_with("1")


def test_junit_xml_carries_each_checks_claim_verdict_and_numbers(project):
    project.makepyfile(test_toy=CLAIM_MODULE)
    run(project, "-m", "fast", "--junitxml", "junit.xml").assert_outcomes(passed=1, deselected=1)
    xml = (project.path / "junit.xml").read_text()
    for prop in ('name="claim" value="toy-claim"', 'name="verdict" value="supported"', 'name="expected" value="supported"'):
        assert prop in xml


def test_a_check_that_skips_itself_is_ledgered_as_skipped(project):
    project.makepyfile(test_toy=CLAIM_MODULE.replace("    evidence.measure(gap=", "    pytest.skip('no such device here')\n    evidence.measure(gap=").replace("from harness.claim", "import pytest\nfrom harness.claim"))
    result = run(project, "-m", "fast", "--claims-report", "out")
    result.assert_outcomes(skipped=1, deselected=1)
    (record,) = json.loads((project.path / "out" / "claims.json").read_text())
    assert record["verdict"] == "skipped" and record["skip_reason"] == "no such device here"


def test_one_claim_id_declared_twice_with_different_metadata_is_a_usage_error(project):
    project.makepyfile(test_toy=CLAIM_MODULE, test_other=CLAIM_MODULE.replace('statement="s"', 'statement="t"'))
    result = run(project, "-m", "fast")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: claim toy-claim is declared twice with different metadata*"])


@pytest.fixture
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An existing folder outside the scratch project, as a user's data or output folder would be."""
    return tmp_path_factory.mktemp("elsewhere")


@pytest.mark.parametrize("option", ["--data-dir", "--claims-report", "--claims-baseline"])
def test_an_option_value_that_is_an_existing_path_outside_the_project_is_taken_as_the_value(project, elsewhere, option):
    project.makepyfile(test_toy=CLAIM_MODULE)
    value = elsewhere / "base.json" if option == "--claims-baseline" else elsewhere
    update = ["--claims-baseline-update"] if option == "--claims-baseline" else []
    result = run(project, "-m", "fast", option, str(value), *update)
    result.assert_outcomes(passed=1, deselected=1)
    written = {"--data-dir": [], "--claims-report": ["claims.json", "report.html"], "--claims-baseline": ["base.json"]}
    assert all((elsewhere / name).is_file() for name in written[option])


OTHER_PROJECTS_TEST = """
import pytest, torch

@pytest.mark.gpu
def test_someone_elses_gpu_marker():
    assert torch.get_num_threads() == {threads}
"""


def test_the_plugin_leaves_tests_that_are_not_claim_checks_alone(project, monkeypatch):
    """Installed, the plugin loads for every project: it marks, skips and configures claim checks only."""
    monkeypatch.setenv("CLAIMS_DATA", str(project.path / "pyproject.toml"))
    project.makepyfile(test_other=OTHER_PROJECTS_TEST.format(threads=torch.get_num_threads()))
    run(project).assert_outcomes(passed=1)
    assert run(project, "-m", "fast").ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_a_report_asked_of_a_run_without_claim_checks_says_that_nothing_was_written(project):
    project.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = run(project, "--claims-report", "out")
    result.stdout.fnmatch_lines(["claims report: no claim check ran, so nothing was written to out."])
    assert not (project.path / "out" / "claims.json").exists()
