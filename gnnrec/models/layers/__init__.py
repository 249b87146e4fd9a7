"""Reusable layers and components of gnnrec models (PyG layers are used where PyG has them)."""

from gnnrec.models.layers.combine import COMBINATIONS, LayerCombination, layer_combination

__all__ = ["COMBINATIONS", "LayerCombination", "layer_combination"]
