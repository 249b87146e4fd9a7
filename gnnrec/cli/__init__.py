"""Hydra entry points (the only part of gnnrec that knows Hydra)."""
