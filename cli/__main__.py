"""``python -m cli``: the same as the ``radlake`` console script."""

from cli.main import main

main()
