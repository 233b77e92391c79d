"""Glue for CI systems, so that teams need none of their own (github.py: the GitHub Action's script)."""
