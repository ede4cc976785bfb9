"""Benchmarks (`make bench`): plain Python scripts with a printed report."""
