import sys

from categories.cli import main

sys.exit(main())
