"""`python -m modulespack.cli`, as `python -m` ran the single-file module before it was a package."""
import sys

from . import main

sys.exit(main())
