"""Command-line tools around the test run: the flake measurement over base seeds."""
