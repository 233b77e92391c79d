"""The contract suites `fieldproof run` executes (pytest modules, shipped in the package)."""
