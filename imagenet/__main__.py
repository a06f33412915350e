"""Entry point of ``python -m imagenet``."""

import sys

from imagenet.cli import main

if __name__ == "__main__":
    sys.exit(main())
