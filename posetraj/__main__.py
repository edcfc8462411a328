import sys

from posetraj.cli import main

sys.exit(main())
