"""The removed object's mask, and the blends that keep everything else (README: Python API; the latent blend is
Prompt-to-Prompt's LocalBlend, Hertz et al. 2022, Sec. 3.2).

The targets' cross-attention says where the object is, coarsely (16 x 16 for SD at 512 px) and on look-alikes too; the
presence check's per-cell posterior (the target rather than a look-alike, unwant/presence) keeps the attention blobs
in which the target is, every instance of it. That region seeds GrabCut (Rother et al. 2004), which follows the object's own
colours to its edges and corners.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch

from editor.checks import check_mask_threshold
from unwant.sd.errors import check_number


@dataclass(frozen=True)
class MaskConfig:
    # attended: over this share of the map's maximum. Prompt-to-Prompt's LocalBlend takes 0.3; a second instance or
    # a smaller look-alike often peaks under it, and the presence check (below) now decides which blobs are the target
    threshold: float = 0.1
    seed_share: float = 0.3  # of each kept blob, what seeds GrabCut: its pixels over this share of its own peak (a blob
    # cut at 0.1 reaches into the background, and GrabCut would learn the background's colours as the object's)
    dilation: float = 0.08  # dilation radius as a fraction of the image's short side: covers the object's edges
    feather: float = 0.03  # pixel-blend feather radius, fraction of the short side
    latent_blend_from: float = 0.5  # from this fraction of the steps on, outside the mask the latent is the source's
    work_side: int = 512  # masks are built at most this big on the short side, then upsampled once: a 12 MP photo's
    # mask would otherwise be dilated with a 240-pixel disk at full size (29 s); the attention map is 16 x 16 anyway
    # every attention blob whose core has on average at least this posterior of the target against its look-alikes
    # (the target likelier than all of them together) is kept: each instance, no look-alike (chosen on 320 first-world
    # scenes, README "Which object"). None: no check, the strongest blob alone
    target_posterior: float | None = 0.5
    peak_share: float = 0.99  # with no posterior, the attention blobs kept: those peaking this close to the strongest;
    # the target's words also light up look-alikes (other squares, other green things), more weakly
    snap: bool = True  # snap the mask to the object's edges with GrabCut; off: the dilated attention blob
    context: float = 0.15  # GrabCut learns the background's colours this far around the blob (short-side fraction)
    edge: float = 0.03  # the snapped mask grows by this much (short-side fraction): anti-aliased edges and halos go too
    match_seam: bool = True  # a fill decoded by the VAE meets the photo at the mask's edge (seam.py, a Poisson blend):
    # the repaint's hole 29.5 -> 41.7 dB on the first world, 25.5 -> 26.6 on world 2's textures (README, "No visible patch")

    def __post_init__(self):
        check_mask_threshold(self.threshold)
        if self.target_posterior is not None:
            check_number(self.target_posterior, "mask target posterior", 0.0, 1.0)
        for name in ("dilation", "feather", "context", "edge", "latent_blend_from", "peak_share", "seed_share"):
            check_number(getattr(self, name), f"mask {name.replace('_', ' ')}", 0.0, 1.0)

    def in_the_loop(self) -> MaskConfig:
        """Only what the denoising loop's latent blend reads, the rest at a fixed value: two configs that differ only in
        what is applied after the loop (snap, feather) give equal keys, so a kept removal can be reused."""
        return replace(self, snap=False, context=0.0, edge=0.0, feather=0.0, work_side=0, match_seam=False, target_posterior=None)


def object_attention(piece_maps: torch.Tensor, layout) -> torch.Tensor:
    """(h, w) from the target pieces' maps (k, h, w, in `layout.target_positions` order): per named object, the
    geometric mean of its words' maps (each word the mean of its pieces), so only where every word attends counts;
    the objects together by their maximum."""
    index = {p: i for i, p in enumerate(layout.target_positions)}
    objects = layout.target_objects or (tuple((p,) for p in layout.target_positions),)
    per_object = []
    for words in objects:
        word_maps = torch.stack([piece_maps[[index[p] for p in pieces]].mean(0) for pieces in words]).clamp_min(0)
        per_object.append(word_maps.log().mean(0).exp() if len(words) > 1 else word_maps[0])
    maps = torch.stack(per_object)
    if len(maps) > 1:  # each object as strong as the strongest, so the mask's threshold keeps them all
        peaks = maps.flatten(1).amax(1).clamp_min(torch.finfo(maps.dtype).tiny)
        maps = maps * (peaks.max() / peaks)[:, None, None]
    return maps.amax(0)


def _radius(fraction: float, size: tuple[int, int]) -> int:
    return max(0, int(round(fraction * min(size))))


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _resized(values: torch.Tensor | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    values = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float32)
    return cv2.resize(values, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def _kept_blobs(attention, size: tuple[int, int], config: MaskConfig, posterior) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The map at `size`, its blobs over `config.threshold` of its peak (labels), which of them are kept, and each
    blob's core (its pixels over `config.seed_share` of its own peak): kept, every blob whose core has the target's
    `posterior` at least `config.target_posterior` on average, or, with no posterior or no blob confirmed, the strongest."""
    resized = _resized(attention, size)
    count, labels = cv2.connectedComponents((resized > config.threshold * float(resized.max())).astype(np.uint8), connectivity=8)
    blob_peaks = np.zeros(count, np.float32)
    np.maximum.at(blob_peaks, labels.ravel(), resized.ravel())
    core = resized > config.seed_share * blob_peaks[labels]  # each blob's own object, not the background it reaches
    keep = np.zeros(count, bool)
    if posterior is not None and config.target_posterior is not None:
        totals, cells = np.zeros(count), np.zeros(count)
        np.add.at(totals, labels[core], _resized(posterior, size)[core])
        np.add.at(cells, labels[core], 1)
        keep = totals >= config.target_posterior * np.maximum(cells, 1)
        keep[0] = False  # label 0 is everything under the threshold
    if not keep.any():
        keep = blob_peaks >= config.peak_share * float(resized.max())
        keep[0] = False
    return resized, labels, keep, core


def attention_region(attention: torch.Tensor | np.ndarray, size: tuple[int, int], config: MaskConfig,
                     posterior: torch.Tensor | np.ndarray | None = None) -> np.ndarray:
    """Where the object is, from its attention map upsampled to `size` (h, w): the blobs kept (`_kept_blobs`), each
    cut to its pixels over `config.seed_share` of its own peak: uint8 {0, 1}."""
    resized, labels, keep, core = _kept_blobs(attention, size, config, posterior)
    if not resized.max() > 0:
        return np.zeros(size, np.uint8)
    return (keep[labels] & core).astype(np.uint8)


def instance_count(attention: torch.Tensor | np.ndarray, size: tuple[int, int], config: MaskConfig,
                   posterior: torch.Tensor | np.ndarray | None = None) -> int:
    """How many separate objects a removal takes: the attention blobs kept, at the working size. Counted before
    GrabCut and the edge growth, which join objects a few pixels apart (first world, two instances: the count right in
    0.98 of scenes against 0.67 from the final mask)."""
    resized, _, keep, _ = _kept_blobs(attention, work_size(size, config.work_side), config, posterior)
    return int(keep.sum()) if resized.max() > 0 else 0


def binary_mask(attention: torch.Tensor | np.ndarray, size: tuple[int, int], config: MaskConfig,
                posterior: torch.Tensor | np.ndarray | None = None) -> np.ndarray:
    """The attention region dilated to cover the object's edges: uint8 {0, 1} at `size` (h, w)."""
    return _grown(attention_region(attention, size, config, posterior), config.dilation)


def _grown(mask: np.ndarray, fraction: float) -> np.ndarray:
    """`mask` dilated by a disk of `fraction` of its short side."""
    radius = _radius(fraction, mask.shape[:2])
    return cv2.dilate(mask, _disk(radius)) if radius else mask


def snapped_mask(image: np.ndarray, attention: torch.Tensor | np.ndarray, config: MaskConfig,
                 posterior: torch.Tensor | np.ndarray | None = None) -> np.ndarray:
    """The object's own pixels, uint8 {0, 1} at the image's size: GrabCut (Rother et al. 2004) seeded with the attention
    region as probable object and a band around it as probable background; everything further out is background.

    Falls back to the dilated attention region where GrabCut cannot run or finds nothing."""
    size = image.shape[:2]
    region = attention_region(attention, size, config, posterior)
    fallback = _grown(region, config.dilation)  # binary_mask's result, from the region already made
    if not region.any():
        return fallback
    seeds = np.full(size, cv2.GC_BGD, np.uint8)
    seeds[cv2.dilate(region, _disk(max(1, _radius(config.context, size)))) > 0] = cv2.GC_PR_BGD
    seeds[region > 0] = cv2.GC_PR_FGD
    if not (seeds == cv2.GC_BGD).any():
        return fallback  # the blob and its band fill the photo: no background left to learn from
    try:
        cv2.setRNGSeed(0)  # GrabCut's k-means draws from OpenCV's global RNG: without this a mask depends on earlier calls
        cv2.grabCut(np.ascontiguousarray(image), seeds, None, np.zeros((1, 65)), np.zeros((1, 65)), 3, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # e.g. a flat image: one colour cannot train two colour models
        return fallback
    found = ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).astype(np.uint8)
    count, labels = cv2.connectedComponents(found, connectivity=8)
    touching = np.unique(labels[(region > 0) & (found > 0)])
    mask = np.isin(labels, touching[touching > 0]).astype(np.uint8)  # only what grew from the seed, not look-alikes
    return _grown(mask, config.edge) if mask.any() else fallback


def latent_mask(attention: torch.Tensor, size: tuple[int, int], config: MaskConfig) -> torch.Tensor:
    """The binary mask at latent resolution, as a 1 x 1 x h x w float tensor for blending."""
    return torch.from_numpy(binary_mask(attention, size, config).astype(np.float32))[None, None]


def work_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    """`size` (h, w) scaled down so its short side is at most `side`."""
    scale = min(1.0, side / min(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def feathered_mask(attention: torch.Tensor | np.ndarray, size: tuple[int, int], config: MaskConfig,
                   image: np.ndarray | None = None, posterior: torch.Tensor | np.ndarray | None = None) -> np.ndarray:
    """Soft float32 mask in [0, 1] at full resolution (h, w): the binary mask, blurred at its border; snapped to the
    object's edges when the photo (`image`, uint8 h x w x 3) is given and `config.snap` is on; where the target's
    `posterior` (h', w') is given, only the attention it confirms.

    Built at a working size (short side `config.work_side`) and upsampled once, so its cost does not grow with the
    photo; the radii are fractions of the short side, so the shape is the same at any size."""
    small = work_size(size, config.work_side)
    if image is not None and config.snap:
        small_image = image if small == tuple(size) else cv2.resize(image, (small[1], small[0]), interpolation=cv2.INTER_AREA)
        binary = snapped_mask(small_image, attention, config, posterior).astype(np.float32)
    else:
        binary = binary_mask(attention, small, config, posterior).astype(np.float32)
    radius = _radius(config.feather, small)
    soft = binary
    if radius:
        blurred = cv2.GaussianBlur(binary, (2 * radius + 1, 2 * radius + 1), sigmaX=radius / 2)
        soft = np.clip(np.maximum(blurred, binary), 0.0, 1.0)  # feather outwards: the object stays covered
    if small == tuple(size):
        return soft
    return np.clip(cv2.resize(soft, (size[1], size[0]), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def pixel_blend(original: np.ndarray, edited: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """mask * edited + (1 - mask) * original, uint8 H x W x 3: pixels outside the mask are the input's own.

    Only the mask's bounding box is computed: outside it the result is the input, bit for bit, at no cost."""
    out = original.copy()
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if not len(rows):
        return out
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    m = mask[box][..., None].astype(np.float32)
    out[box] = np.clip(np.round(m * edited[box] + (1 - m) * original[box]), 0, 255).astype(np.uint8)
    return out
