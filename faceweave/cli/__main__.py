"""`python -m faceweave.cli ...` runs the command line, like the `faceweave` script."""

import sys

from faceweave.cli import main

sys.exit(main())
