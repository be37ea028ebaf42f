"""``python -m riskmap.cli`` = the ``riskmap`` command."""

from riskmap.cli import main

if __name__ == "__main__":
    main()
