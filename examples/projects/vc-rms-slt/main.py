import sys

from modulespack.train import main

sys.exit(main())
