"""No visible patch: a fill decoded by the VAE carries the VAE's own error (a real VAE's too) and the model's own colour
shift, so next to the photo's untouched pixels its colour and brightness step at the mask's edge. The step is known on
the ring around the hole, where the decoded fill still covers the photo (the latent hole takes every latent cell the
mask touches): the photo minus the fill there, low-passed, carried into the hole smoothly (a biharmonic membrane) and
added to the fill, makes the fill meet the photo at the edge while it keeps its own detail: gradient-domain (Poisson)
blending (Pérez et al. 2003)."""

from __future__ import annotations

import cv2
import numpy as np
from skimage.restoration import inpaint_biharmonic

from editor.removal.masks import work_size

SEAM_WORK_SIDE = 128  # the correction is smooth: solved at most this big on the short side of the hole's box, upsampled
SEAM_BLUR = 3.0  # pixels (at that size): the error is low-passed first, from the known side only. Raw, it carries the
# VAE's edge ringing into the hole (README, "No visible patch")


def match_seam(painted: np.ndarray, photo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`painted` (uint8 h x w x 3, decoded by the VAE, the photo's size) inside the mask, corrected by its error against
    `photo` on the mask's border (`photo` minus `painted` there) interpolated into the mask."""
    hole = mask > 0
    rows, cols = np.nonzero(hole.any(axis=1))[0], np.nonzero(hole.any(axis=0))[0]
    if not len(rows):
        return painted
    margin = 2
    top, bottom = max(0, rows[0] - margin), min(photo.shape[0], rows[-1] + 1 + margin)
    left, right = max(0, cols[0] - margin), min(photo.shape[1], cols[-1] + 1 + margin)
    box = (slice(top, bottom), slice(left, right))
    error = photo[box].astype(np.float32) - painted[box].astype(np.float32)
    crop_hole = hole[box]
    small = work_size(crop_hole.shape, SEAM_WORK_SIDE)
    if small != crop_hole.shape:
        error = cv2.resize(error, (small[1], small[0]), interpolation=cv2.INTER_AREA)
        crop_hole_small = cv2.resize(crop_hole.astype(np.uint8), (small[1], small[0]), interpolation=cv2.INTER_NEAREST) > 0
    else:
        crop_hole_small = crop_hole
    if crop_hole_small.all():
        return painted  # no border to learn the error from: the mask covers the whole box
    known = (~crop_hole_small).astype(np.float32)  # a normalised convolution: the hole's own (unknown) error does not enter
    weight = cv2.GaussianBlur(known, (0, 0), SEAM_BLUR)
    error = cv2.GaussianBlur(error * known[..., None], (0, 0), SEAM_BLUR) / np.maximum(weight, 1e-6)[..., None]
    smooth = inpaint_biharmonic(error, crop_hole_small, channel_axis=-1).astype(np.float32)
    if small != crop_hole.shape:
        smooth = cv2.resize(smooth, (crop_hole.shape[1], crop_hole.shape[0]), interpolation=cv2.INTER_LINEAR)
    out = painted.copy()
    corrected = np.clip(np.round(painted[box].astype(np.float32) + smooth), 0, 255).astype(np.uint8)
    out[box][crop_hole] = corrected[crop_hole]
    return out
