"""Orchestration: build, check, plan, weekly, tiled score; hands results to writers."""
