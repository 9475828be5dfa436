"""The lab: quality evaluation (eval, cases, blind sheets), benchmarks and flicker; it times the real chain."""
