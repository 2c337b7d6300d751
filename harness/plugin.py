"""The claims plugin, installed under pytest11: command-line options, fixtures, the ledger at the end of each run,
the report and the baseline."""
from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import torch

from harness.evidence import ClaimCheckFailed, Evidence, junit_properties, versions
from harness.experiments import cifar, devices
from harness.experiments.seeding import derive_seed
from harness.outputs import baseline, store
from harness.outputs.files import folder_problem
from harness.outputs.ledger import ledger_lines
from harness.outputs.report import write_claims_json, write_report
from harness.profile import Profile
from models import user_activations

DEVICE_OPTION = "--device"
SEED_OPTION = "--claims-seed"
REPORT_OPTION = "--claims-report"
DATA_OPTION = "--data-dir"
DOWNLOAD_OPTION = "--download"
BASELINE_OPTION = "--claims-baseline"
BASELINE_UPDATE_OPTION = "--claims-baseline-update"
STORE_OPTION = "--claims-store"
STORE_UPDATE_OPTION = "--claims-store-update"
ACTIVATION_OPTION = "--activation"
DATA_VARIABLE = "CLAIMS_DATA"     # the environment variable --data-dir falls back on
DEFAULT_DATA = "data"
# One torch thread per process unless OMP_NUM_THREADS says otherwise: the fast experiments' tensors are too small
# for intra-op threads to pay, and OpenMP threads that spin-wait for a core another process holds made two-moons
# training 15x slower (16 ms a step on one thread, 245 ms on two, beside one other busy process on 2 cores).
# Parallelism comes from pytest -n instead.
TORCH_THREADS = 1

CHECK_KEY = "claims_check"        # user property set at collection: which claim, scale and expectation
EVIDENCE_KEY = "claims_evidence"  # user property set at teardown: the evidence record
PROFILE_KEY = "claims_profile"    # user property set at teardown: a profile test's rows, for the report cards
# A claim module's protocol per scale, as data (task, model, optimizer, learning_rate, budget, seeds, evaluation):
# every check of the module records it; a check whose experiment differs adds or overrides with evidence.describe.
PROTOCOL_ATTRIBUTE = "PROTOCOL"
CALL_OUTCOME = pytest.StashKey[str]()
DEVICE = pytest.StashKey[torch.device]()
DATA_DIR = pytest.StashKey["DataDir"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("claims", "activation-function claims harness")
    group.addoption(DEVICE_OPTION, default="auto",
                    help=f"where experiments run: {devices.VALID} (default auto: CUDA if present)")
    group.addoption(SEED_OPTION, default="0", metavar="N", help="base seed, a non-negative integer (default 0)")
    group.addoption(REPORT_OPTION, default=None, metavar="DIR",
                    help="write DIR/claims.json, DIR/report.md and DIR/report.html")
    group.addoption(DATA_OPTION, default=None, metavar="PATH",
                    help=f"where datasets live (default ${DATA_VARIABLE}, else ./{DEFAULT_DATA})")
    group.addoption(DOWNLOAD_OPTION, action="store_true", help="allow downloading datasets (never otherwise)")
    group.addoption(BASELINE_OPTION, default=None, metavar="FILE",
                    help="compare verdicts and numbers with the baseline FILE; the run fails on drift")
    group.addoption(BASELINE_UPDATE_OPTION, action="store_true",
                    help=f"write (or refresh) the {BASELINE_OPTION} FILE from this run instead of comparing")
    group.addoption(STORE_OPTION, default=None, metavar="FILE",
                    help=f"the measured full-scale verdicts (default: {store.DEFAULT_PATH} under the rootdir): "
                         "shown for checks that do not run, compared with those that do")
    group.addoption(STORE_UPDATE_OPTION, action="store_true",
                    help=f"keep this run's full-scale verdicts, with their provenance, in the {STORE_OPTION} FILE")
    group.addoption(ACTIVATION_OPTION, action="append", default=[], metavar="NAME=MODULE:ATTR",
                    help="add your activation to the registry for this run, e.g. mish=torch.nn.functional:mish "
                         "(repeatable; packages can also ship entries under the entry-point group "
                         f"{user_activations.ENTRY_POINT_GROUP})")


class DataDir:
    """Where datasets are looked for, and which setting named that place (for messages that point at it)."""

    def __init__(self, config: pytest.Config) -> None:
        given, variable = config.getoption(DATA_OPTION), os.environ.get(DATA_VARIABLE)
        self.path = Path(given or variable or DEFAULT_DATA)
        self.origin = (f"{DATA_OPTION} {given}" if given else f"${DATA_VARIABLE}={variable}" if variable
                       else f"the default {DATA_OPTION} ./{DEFAULT_DATA}")

    def problem(self) -> str | None:
        try:
            is_file = self.path.is_file()
        except OSError as error:  # Python before 3.12 raises where a folder on the way cannot be searched
            return f"{self.origin}: cannot be read ({error.strerror or error}); point it at a folder you can read."
        if is_file:
            return (f"{self.origin}: that is a file; point it at the folder that holds (or will hold) "
                    f"{cifar.FOLDER}.")
        return None


MARKERS = (
    "fast: runs on a CPU in seconds; the CI suite (pytest -m fast)",
    "slow: the documents' full protocols; minutes, on a GPU box",
    f"gpu: needs a CUDA device unless {DEVICE_OPTION} cpu is passed",
    "claim(claim, expected): attached by Claim.check; the claim a check tests and its expected verdict per scale",
)


def pytest_configure(config: pytest.Config) -> None:
    # The plugin's own markers, registered here and not only in this repository's pyproject.toml: pytest picks its
    # rootdir (and so its config file) before plugins load, from any argument that is an existing path, and an
    # option value such as --data-dir ../shared/data counts as one.
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    seed = config.getoption(SEED_OPTION)
    if not re.fullmatch(r"[0-9]+", seed):
        raise pytest.UsageError(f"{SEED_OPTION} {seed}: the base seed must be a non-negative integer, "
                                f"e.g. {SEED_OPTION} 0.")
    try:
        config.stash[DEVICE] = devices.worker_device(devices.resolve_device(config.getoption(DEVICE_OPTION)))
    except devices.DeviceError as error:
        raise pytest.UsageError(str(error)) from None
    report = config.getoption(REPORT_OPTION)
    if report and (problem := folder_problem(Path(report))):
        raise pytest.UsageError(f"{REPORT_OPTION} {report}: {problem}; choose a folder you can write to "
                                "(it is made if missing).")
    config.stash[DATA_DIR] = DataDir(config)
    register_user_activations(config)
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(Ledger(config, stored_baseline(config), full_scale_store(config)),
                                      "claims-ledger")


def register_user_activations(config: pytest.Config) -> None:
    """The users' activations join the registry before any module is collected, and leave it when the run ends."""
    try:
        config.add_cleanup(user_activations.register_all(config.getoption(ACTIVATION_OPTION)))
    except user_activations.UserActivationError as error:
        raise pytest.UsageError(str(error)) from None


def base_seed_of(config: pytest.Config) -> int:
    return int(config.getoption(SEED_OPTION))


def stored_baseline(config: pytest.Config) -> dict | None:
    """The baseline this run is compared with (None when there is none, or when this run writes it)."""
    path, update = config.getoption(BASELINE_OPTION), config.getoption(BASELINE_UPDATE_OPTION)
    if update and not path:
        raise pytest.UsageError(f"{BASELINE_UPDATE_OPTION} needs {BASELINE_OPTION} FILE: the file to write.")
    if path is None:
        return None
    try:
        if update:
            baseline.check_writable(Path(path))
            return None
        return baseline.read_baseline(Path(path))
    except baseline.BaselineError as error:
        raise pytest.UsageError(str(error)) from None


def store_path(config: pytest.Config) -> Path:
    given = config.getoption(STORE_OPTION)
    return Path(given) if given else config.rootpath / store.DEFAULT_PATH


def full_scale_store(config: pytest.Config) -> dict:
    """The measured full-scale verdicts this run shows and is compared with (empty when there is no store). A store
    that cannot be read stops the run, except one that --claims-store-update is about to rewrite."""
    try:
        return store.read_store(store_path(config))
    except store.StoreError as error:
        if config.getoption(STORE_UPDATE_OPTION):
            return store.empty()
        raise pytest.UsageError(str(error)) from None


def _claim_marker(item: pytest.Item) -> pytest.Mark | None:
    return item.get_closest_marker("claim")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_gpu = config.stash[DEVICE].type == "cuda"
    asked_for_cpu = config.getoption(DEVICE_OPTION) == "cpu"
    declared: dict[str, object] = {}
    skip_gpu = pytest.mark.skip(reason=f"needs a CUDA GPU and none was found; pass {DEVICE_OPTION} cpu to run it "
                                       "on the CPU anyway")
    for item in items:
        marker = _claim_marker(item)  # the plugin touches claim checks only: it is installed for every project
        if marker is not None:
            if item.get_closest_marker("gpu") and not on_gpu and not asked_for_cpu:
                item.add_marker(skip_gpu)
            claim = marker.kwargs["claim"]
            if declared.setdefault(claim.id, claim) != claim:
                raise pytest.UsageError(f"claim {claim.id} is declared twice with different metadata: declare it once, "
                                        "in claims/shared_claims.py, and import it where its checks are.")
            scale = item.callspec.params["scale"]
            item.user_properties.append((CHECK_KEY, json.dumps({
                "claim": marker.kwargs["claim"].id, "check": item.originalname, "test": item.name, "scale": scale,
                "expected": marker.kwargs["expected"][scale],
                "expected_reason": marker.kwargs["reason"].get(scale, ""),
                "plots": [kind.to_json() for kind in claim.plots]})))


@pytest.fixture(scope="session")
def device(pytestconfig: pytest.Config) -> torch.device:
    """Where experiments run, from --device (pinned to one GPU per xdist worker); torch's CPU threads are set here,
    when a claim check first needs them, and not for every pytest run of the environment."""
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(TORCH_THREADS)
    return pytestconfig.stash[DEVICE]


@pytest.fixture(scope="session")
def base_seed(pytestconfig: pytest.Config) -> int:
    return base_seed_of(pytestconfig)


@pytest.fixture(scope="session")
def data_dir(pytestconfig: pytest.Config) -> Path:
    return pytestconfig.stash[DATA_DIR].path


@pytest.fixture(scope="session")
def cifar10(pytestconfig: pytest.Config) -> cifar.Cifar10:
    """CIFAR-10 from --data-dir (fetched first if --download is given); checks that need it skip when it is missing."""
    place = pytestconfig.stash[DATA_DIR]
    if problem := place.problem():
        pytest.fail(problem, pytrace=False)
    try:
        return cifar.load(place.path, allow_download=pytestconfig.getoption(DOWNLOAD_OPTION))
    except cifar.CifarMissing as error:
        pytest.skip(f"{error} (that folder came from {place.origin})")
    except cifar.CifarCorrupt as error:
        corrupt = str(error)
    pytest.fail(corrupt, pytrace=False)  # outside the except block: one message, without the exception chained under it


@pytest.fixture(scope="session")
def results_cache(pytestconfig: pytest.Config) -> Path | None:
    """Where long experiments keep their results between runs (in pytest's cache folder; none with -p no:cacheprovider)."""
    cache = getattr(pytestconfig, "cache", None)
    return cache.mkdir("claims-results") if cache is not None else None


@pytest.fixture(scope="session")
def progress_line(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """Writes one line to the terminal from inside a check, past output capture (under xdist, from the worker)."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    reporter = pytestconfig.pluginmanager.getplugin("terminalreporter")

    def write(line: str) -> None:
        with capture.global_and_fixture_disabled():
            if reporter is not None and not hasattr(pytestconfig, "workerinput"):
                reporter.ensure_newline()
                reporter.write_line(line)
            else:
                sys.stderr.write(f"{line}\n")
                sys.stderr.flush()
    return write


@pytest.fixture
def check_seed(request: pytest.FixtureRequest, base_seed: int) -> int:
    """This check's own seed: the base seed mixed with the test's id, so checks do not share random streams."""
    return derive_seed(base_seed, request.node.nodeid)


@pytest.fixture
def rng(check_seed: int, device: torch.device) -> torch.Generator:
    """A generator on the experiment device, seeded for this check."""
    return torch.Generator(device=device).manual_seed(check_seed)


@pytest.fixture
def evidence(request: pytest.FixtureRequest, device: torch.device, check_seed: int):
    """Collects a check's measurements and verdict; the ledger and claims.json read them back."""
    marker = _claim_marker(request.node)
    if marker is None:
        raise pytest.UsageError(f"{request.node.nodeid} asks for `evidence` but is not a claim check: "
                                "decorate it with CLAIM.check(expected=...).")
    scale = request.node.callspec.params["scale"]
    record = Evidence(claim=marker.kwargs["claim"], check=request.node.originalname, scale=scale,
                      expected=marker.kwargs["expected"][scale],
                      reason=marker.kwargs["reason"].get(scale, ""),
                      device=str(device), seeds=[check_seed])
    record.describe(**getattr(request.module, PROTOCOL_ATTRIBUTE, {}).get(scale, {}))
    start = time.perf_counter()
    yield record
    outcome = request.node.stash.get(CALL_OUTCOME, "")
    if outcome in ("skipped", ""):  # skipped, or setup failed before the check ran: the ledger records it
        return
    result = record.record(outcome == "passed" and record.decision is not None, time.perf_counter() - start)
    request.node.user_properties += [(EVIDENCE_KEY, json.dumps(result)), *junit_properties(result)]
    if outcome == "passed" and record.decision is None:
        pytest.fail(f"{request.node.nodeid} concluded nothing: a claim check must end with evidence.conclude(...).",
                    pytrace=False)


@pytest.fixture
def profile(request: pytest.FixtureRequest):
    """Collects a profile test's measurements; the report's cards read them back."""
    rows = Profile()
    yield rows
    if rows.rows:
        request.node.user_properties.append((PROFILE_KEY, json.dumps(rows.rows)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call":
        item.stash[CALL_OUTCOME] = report.outcome
    if call.excinfo is not None and isinstance(call.excinfo.value, ClaimCheckFailed):
        report.longrepr = call.excinfo.getrepr(style="value")  # the message says it all; a traceback adds nothing
    return report


def failure_message(report: pytest.TestReport) -> str:
    """The exception's message (its last line), without the traceback."""
    crash = getattr(report.longrepr, "reprcrash", None)
    return crash.message if crash is not None else str(report.longrepr)


class Ledger:
    """Gathers evidence records on whichever process prints (the xdist controller, or the only process)."""

    def __init__(self, config: pytest.Config, stored_baseline: dict | None, full_scale: dict) -> None:
        self.config = config
        self.records: list[dict] = []
        self.profiles: list[dict] = []
        self.baseline = stored_baseline
        self.store = full_scale
        self.store_lines: list[str] = []
        self.baseline_lines: list[str] = []
        self.write_problems: list[str] = []
        self.failures: dict[str, str] = {}  # node id -> why its call failed, until its evidence arrives at teardown
        self.ledger: list[str] = []
        self.report_folder: Path | None = None
        self.drifted = False

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        properties = dict(report.user_properties)
        if report.when == "teardown" and PROFILE_KEY in properties:
            self.profiles += json.loads(properties[PROFILE_KEY])
        if report.when == "call" and report.failed and CHECK_KEY in properties:
            self.failures[report.nodeid] = failure_message(report)
            return
        if report.when == "teardown" and EVIDENCE_KEY in properties:
            record = {**json.loads(properties[CHECK_KEY]), **json.loads(properties[EVIDENCE_KEY])}
            if report.nodeid in self.failures:
                record["failure"] = self.failures.pop(report.nodeid)
            self.records.append(record)
        elif report.when in ("setup", "call") and report.skipped and CHECK_KEY in properties:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self.records.append({**json.loads(properties[CHECK_KEY]), "verdict": "skipped", "passed": None,
                                 "skip_reason": reason.removeprefix("Skipped: ")})
        elif report.when == "setup" and report.failed and CHECK_KEY in properties:
            self.records.append(self.setup_error(report, json.loads(properties[CHECK_KEY])))
        else:
            return
        self.save_claims_json()

    def setup_error(self, report: pytest.TestReport, check: dict) -> dict:
        """The record of a check whose setup failed (a fixture raised, on damaged data say): no evidence, the error."""
        seed = derive_seed(base_seed_of(self.config), report.nodeid)
        return {**check, "verdict": "error", "passed": False, "measured": {}, "document": {}, "seeds": [seed],
                "device": str(self.config.stash[DEVICE]), "duration_s": round(report.duration, 3),
                "failure": failure_message(report)}

    def save_claims_json(self) -> None:
        """claims.json after every finished check, so a run stopped at any point keeps what it measured."""
        report = self.config.getoption(REPORT_OPTION)
        if not report:
            return
        try:
            write_claims_json(Path(report), self.records)
        except OSError as error:
            self.tell(f"could not write {Path(report) / 'claims.json'}: {error.strerror or error}.")

    def tell(self, problem: str) -> None:
        """Keep a problem to print once at the end, however often it happened."""
        if problem not in self.write_problems:
            self.write_problems.append(problem)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Write the report and the baseline (or compare with it); a run that could not write what it was asked to,
        or whose numbers drifted, fails."""
        self.ledger = ledger_lines(self.records, self.store)
        report = self.config.getoption(REPORT_OPTION)
        if report and (self.records or self.profiles):
            self.report_folder = self.write_full_report(Path(report))
        if self.config.getoption(BASELINE_OPTION) is not None:
            self.drifted = self.use_baseline(Path(self.config.getoption(BASELINE_OPTION)))
        self.drifted |= self.use_store()
        if (self.write_problems or self.drifted) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def use_baseline(self, path: Path) -> bool:
        """Refresh or compare with the baseline; True when this run drifted from it."""
        now = baseline.provenance(versions(), baseline.device_name(self.config.stash[DEVICE]),
                                  base_seed_of(self.config))
        if self.config.getoption(BASELINE_UPDATE_OPTION):
            try:
                self.baseline_lines = [baseline.update(path, self.records, now)]
            except baseline.BaselineError as error:
                self.tell(str(error))
            return False
        comparison = baseline.compare(self.baseline, self.records, now)
        self.baseline_lines = baseline.comparison_lines(comparison, path)
        return bool(comparison.drifts)

    def use_store(self) -> bool:
        """Keep this run's full-scale verdicts in the store, or compare them with it; True when one differs."""
        path = store_path(self.config)
        if self.config.getoption(STORE_UPDATE_OPTION):
            device, seed = baseline.device_name(self.config.stash[DEVICE]), base_seed_of(self.config)
            try:
                store.write_store(path, store.updated(self.store, self.records, device, versions(), seed))
                self.store_lines = [f"kept {len(store.measured_full(self.records))} full-scale verdicts of this run, "
                                    f"with their provenance, in {path}"]
            except store.StoreError as error:
                self.tell(str(error))
            return False
        differing = store.disagreements(self.store, self.records, base_seed_of(self.config))
        if differing:
            self.store_lines = [f"full-scale verdicts that differ from {path} (so this run fails; keep the new ones "
                                f"with {STORE_UPDATE_OPTION} once they are understood):", *differing]
        return bool(differing)

    def write_full_report(self, folder: Path) -> Path | None:
        try:
            return write_report(folder, self.records, self.ledger, self.store, self.profiles)
        except OSError as error:
            self.tell(f"could not write the report in {folder}: {error.strerror or error}.")
            return None

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.records:
            terminalreporter.section(f"claims ledger (base seed {base_seed_of(self.config)}, "
                                     f"device {self.config.stash[DEVICE]})")
            for line in self.ledger:
                terminalreporter.write_line(line)
        if self.config.getoption(REPORT_OPTION) and not (self.records or self.profiles):
            terminalreporter.write_line(f"claims report: no claim check ran, so nothing was written to "
                                        f"{self.config.getoption(REPORT_OPTION)}.")
        if self.report_folder is not None:
            folder = self.report_folder
            terminalreporter.write_line(f"claims report: {folder / 'report.html'}, {folder / 'report.md'}, "
                                        f"{folder / 'claims.json'}")
        for problem in self.write_problems:
            terminalreporter.write_line(problem, red=True)
        if self.baseline_lines:
            terminalreporter.section(f"claims baseline {self.config.getoption(BASELINE_OPTION)}")
            for line in self.baseline_lines:
                terminalreporter.write_line(line)
        if self.store_lines:
            terminalreporter.section(f"claims full-scale store {store_path(self.config)}")
            for line in self.store_lines:
                terminalreporter.write_line(line)
