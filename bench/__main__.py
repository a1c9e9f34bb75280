"""`python -m bench`: the bench's entry point (bench/run.py runs the sections)."""

import sys

from bench.run import main

sys.exit(main())
