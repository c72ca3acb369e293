"""Benchmark harness for Sheet Sync (issue 5): ``python -m bench [--quick] [--scenarios 1,3] [--repeat N]``.

Every measured scenario runs in a fresh process; its wall time and peak RSS are that
process's own (``os.wait4`` on its pid). Generated workbooks are cached in ``bench/out/``.
"""
