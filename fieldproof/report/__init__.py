"""Reports of a run: merged from the workers' JSON lines into summary.json, summary.md,
report.html and the console table."""

from fieldproof.report.render import render_console, render_html, render_markdown
from fieldproof.report.summary import Summary, TestOutcomes, build_summary

__all__ = ["Summary", "TestOutcomes", "build_summary", "render_console", "render_html", "render_markdown"]
