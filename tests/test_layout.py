"""The engine knows no claim: nothing under harness/ or models/ names a claim the claims package declares."""
import importlib
import pkgutil
from pathlib import Path

import claims
from harness.claim import Claim

ROOT = Path(__file__).resolve().parent.parent


def declared_claim_ids() -> set[str]:
    modules = [importlib.import_module(f"claims.{m.name}") for m in pkgutil.iter_modules(claims.__path__)]
    return {value.id for module in modules for value in vars(module).values() if isinstance(value, Claim)}


def test_every_claim_of_the_catalogue_is_declared():
    assert len(declared_claim_ids()) == 31


def test_no_module_of_the_engine_names_a_claim():
    ids = declared_claim_ids()
    engine = [*ROOT.glob("harness/**/*.py"), *ROOT.glob("models/**/*.py")]
    assert engine and not [(path.relative_to(ROOT), claim) for path in engine for claim in ids
                           if claim in path.read_text()]
