"""``python -m care`` runs the command line."""

from care.cli.main import main

if __name__ == "__main__":
    main()
