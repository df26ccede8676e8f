"""World 2, the contract for held-out checks: faces with glasses, sunglasses and hats, shapes, textures, shadows.

    rng = numpy.random.default_rng(seed)
    scene = sample_scene(rng)            # .caption, .names ("face", "glasses", "red circle", ...)
    image = render(scene)                # uint8 64 x 64 x 3
    truth = render_without(scene, "sunglasses")   # the eyes drawn where the lenses were
    detect(image)                        # the names found, plus "eyes" per face whose eyes show, "shadow" per shadow

The model trained on it loads by name: Editor.from_pretrained("toyworld2"), or --model toyworld2.
"""

from benchmarks.toyworld2.detector import detect, detect_regions
from benchmarks.toyworld2.world import Scene, expected_names, render, render_without, sample_scene, without

__all__ = ["Scene", "detect", "detect_regions", "expected_names", "render", "render_without", "sample_scene", "without"]
