"""harness.flake: runs the fast tier under many base seeds and counts, per check, the verdicts that differed."""
from pathlib import Path

import pytest

from harness import flake


def record(check: str, verdict: str = "supported", expected: str = "supported", control: str = "refuted",
           passed: bool | None = None) -> dict:
    passed = verdict == expected and control != "supported" if passed is None else passed
    return {"claim": "toy", "check": check, "test": f"{check}[fast]", "scale": "fast", "verdict": verdict,
            "expected": expected, "passed": passed, "controls": [{"kind": "null", "verdict": control}]}


RUNS = {
    0: [record("test_a"), record("test_b"), record("test_c", "skipped", passed=None)],
    1: [record("test_a", "inconclusive"), record("test_b", control="supported")],
    2: [record("test_a", "refuted", expected="refuted")],
}


def test_each_check_lists_the_seeds_where_it_failed_and_why():
    failures = flake.tally(RUNS)
    assert failures == {"toy test_a[fast]": [(1, "inconclusive")],
                        "toy test_b[fast]": [(1, "control supported"), (2, "missing")],
                        "toy test_c[fast]": [(1, "missing"), (2, "missing")]}
    lines = flake.table(failures, flake.ran(RUNS))
    assert lines[0].split() == ["check", "differed", "seeds", "(verdict)"]
    assert lines[1].split() == ["toy", "test_a[fast]", "1/3", "1", "(inconclusive)"]
    assert lines[2].split()[2] == "2/2" and lines[3].split()[2:] == ["skipped", "1", "(missing),", "2", "(missing)"]


@pytest.mark.parametrize("runs, status", [({0: RUNS[0], 1: RUNS[0]}, 0), (RUNS, 1), ({0: RUNS[0], 1: None}, 1)])
def test_main_prints_the_table_and_a_total_and_fails_when_any_differed(monkeypatch, capsys, tmp_path, runs, status):
    monkeypatch.setattr(flake, "run_seed", lambda seed, *args: runs[seed])
    assert flake.main(["--seeds", f"0-{len(runs) - 1}", "--keep", str(tmp_path)]) == status
    out = capsys.readouterr().out
    assert "total: " in out and f"reports and logs in {tmp_path}" in out
    assert ("no claims.json from base seeds 1" in out) == (runs.get(1) is None)


def test_each_run_is_the_fast_tier_with_its_own_seed_and_report():
    command = flake.pytest_command(7, Path("out/seed7"), 1, ["-x"])
    assert command[1:] == ["-m", "pytest", "-m", "fast", "claims", "-p", "no:cacheprovider", "-q",
                           "--claims-seed", "7", "--claims-report", "out/seed7", "-x"]
    assert flake.pytest_command(7, Path("r"), 2, [])[9:11] == ["-n", "2"]


@pytest.mark.parametrize("lost", [False, True])
def test_without_keep_the_temporary_folder_is_removed_unless_a_run_left_no_claims_json(monkeypatch, capsys, tmp_path,
                                                                                       lost):
    monkeypatch.setattr(flake.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(flake, "run_seed", lambda seed, *args: None if lost and seed == 1001 else RUNS[0])
    flake.main(["--seeds", "1000-1001"])
    left = list(tmp_path.iterdir())
    assert len(left) == int(lost)
    assert ("reports and logs in" in capsys.readouterr().out) == lost


@pytest.mark.parametrize("text, seeds", [("1000-1019", range(1000, 1020)), ("7", range(7, 8))])
def test_seed_ranges_include_both_ends(text, seeds):
    assert flake.seed_range(text) == seeds


@pytest.mark.parametrize("text", ["19-0", "a-b", "-1", "1000-"])
def test_a_bad_seed_range_is_one_sentence(capsys, text):
    with pytest.raises(SystemExit) as stop:
        flake.main(["--seeds", text])
    assert stop.value.code == 2 and "is not a range of base seeds; write it as A-B" in capsys.readouterr().err


def test_an_interrupted_measurement_leaves_no_temporary_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(flake.tempfile, "tempdir", str(tmp_path))

    def interrupted(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(flake, "run_seed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        flake.main(["--seeds", "1000-1001"])
    assert list(tmp_path.iterdir()) == []


def test_a_relative_keep_folder_is_made_absolute_since_the_runs_start_in_the_repository(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    folders = []
    monkeypatch.setattr(flake, "run_seed", lambda seed, folder, *args: folders.append(folder) or RUNS[0])
    flake.main(["--seeds", "5", "--keep", "kept"])
    assert folders == [tmp_path / "kept"]
