"""The fills issue 30 compares, by name: each an `Editor.remove` keyword set, measured on both worlds
(`benchmarks.fills` on the first, `benchmarks.world2 --methods` on world 2)."""

from __future__ import annotations

from dataclasses import replace

from editor.removal.masks import MaskConfig

NO_SEAM = MaskConfig(match_seam=False)
BEFORE = MaskConfig(threshold=0.3, target_posterior=None)  # the strongest attention blob, no presence check
FILL_VARIANTS = {  # "+seam": the fill matched to the photo at the mask's edge (editor/removal/seam.py, the default)
    "surroundings": {"fill": "surroundings"},  # OpenCV Telea from the pixels around the hole (no VAE: no seam)
    "repaint": {"fill": "repaint", "mask": NO_SEAM},  # Telea, then noised half-way and denoised unconditioned
    "repaint+seam": {"fill": "repaint"},
    "model": {"fill": "model", "mask": NO_SEAM},  # the suppressed branch from x_T, latent blend from half-way (the paper's)
    "model+seam": {"fill": "model"},
    "model, blend from the start+seam": {"fill": "model", "mask": MaskConfig(latent_blend_from=0.0)},
    "suppressed": {"fill": "suppressed", "mask": NO_SEAM},  # Telea noised half-way, denoised by the suppressed branch, guided
    "suppressed+seam": {"fill": "suppressed"},
    # localisation (README, "Which object"): before it was chosen, the 8 x 8 maps' strongest blob over 0.3 of the peak,
    # no presence check; and ablations of that one: the maps at the latent's own size (16 x 16), every blob peaking
    # over half the strongest, GrabCut's snap off
    "repaint+seam before": {"fill": "repaint", "attention_factor": 2, "mask": BEFORE, "force": True},
    "repaint+seam edit-all": {"fill": "repaint", "force": True},  # the default with no presence gate (--edit-all)
    "repaint+seam 16x16 half-peak": {"fill": "repaint", "attention_factor": 1, "mask": replace(BEFORE, peak_share=0.5), "force": True},
    "suppressed+seam 16x16 half-peak": {"fill": "suppressed", "attention_factor": 1, "mask": replace(BEFORE, peak_share=0.5), "force": True},
    "repaint+seam 16x16 no-snap": {"fill": "repaint", "attention_factor": 1, "mask": replace(BEFORE, snap=False), "force": True},
    "repaint+seam no-snap": {"fill": "repaint", "attention_factor": 2, "mask": replace(BEFORE, snap=False), "force": True},
}
