import sys

from posetraj.commands.main import main

sys.exit(main())
