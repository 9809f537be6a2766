"""``python -m benchmarks [--quick]``: see :mod:`benchmarks.cli`."""

from benchmarks.cli import main

main()
