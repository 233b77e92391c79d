import sys

from fieldproof.cli import main

sys.exit(main())
