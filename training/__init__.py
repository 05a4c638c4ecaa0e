"""Training scripts: thin command-line fronts that import `core/`, never imported by it."""
