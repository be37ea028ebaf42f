"""Scoring on one grid: weighted overlay, the engine, the tiled engine, patrol cells."""
