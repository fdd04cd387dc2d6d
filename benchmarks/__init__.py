"""fieldkit benchmarks: ``python -m benchmarks [name ...]``. Each ``bench_<name>.py`` registers one."""
