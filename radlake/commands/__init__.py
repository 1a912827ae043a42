"""Thin CLI commands, one module per topic; each resolves config and calls a library function."""
