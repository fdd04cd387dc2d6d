"""fieldkit benchmarks: ``python -m benchmarks [name ...]``; each ``bench_<name>.py`` is one."""
