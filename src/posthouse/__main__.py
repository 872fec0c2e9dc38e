"""Entry point: ``python -m posthouse`` and the ``posthouse`` console script."""

from posthouse.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
