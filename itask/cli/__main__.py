import sys

from itask.cli import main

sys.exit(main())
