"""``python -m verify.smt``: see :mod:`verify.smt.command`."""

import sys

from verify.smt.command import main

sys.exit(main())
