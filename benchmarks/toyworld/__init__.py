"""The toy world: coloured shapes on gradients, an exact detector, and a small SD-architecture model trained on it."""

from benchmarks.toyworld.detector import Detection, detect
from benchmarks.toyworld.world import COLOURS, SHAPES, Scene, SceneObject, render, sample_scene

__all__ = ["COLOURS", "SHAPES", "Detection", "Scene", "SceneObject", "detect", "render", "sample_scene"]
