"""Benchmarks: `make bench`, or one piece at a time with `python -m bench.<piece>`.

Figures are printed, never asserted: they depend on the machine. The ratios
to the two bare baselines in bench/baselines/ are what carries across
machines.
"""
