"""Benchmarks run by `make bench` (bench/run.py): one `bench_*.py` module per area."""
