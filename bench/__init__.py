"""Benchmarks (see bench/README.md); a package so tests and other benchmarks can import
the synthetic graph generator as ``bench.synthetic``."""
