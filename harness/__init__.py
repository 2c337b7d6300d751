"""The engine: decision rules, evidence, ledger and report. Knows no particular claim."""
