"""What a run leaves behind: the ledger, report.md and report.html with their plots and report cards, baselines, the full-scale store."""
