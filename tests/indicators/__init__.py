"""Tests of pipelines.indicators, the estimate stage (catalogue, measures, estimate, published, frames)."""
