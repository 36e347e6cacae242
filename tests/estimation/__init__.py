"""Tests of pipelines.estimation (see docs/parity.md for what is checked against what)."""
