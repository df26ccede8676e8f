"""The Python API: `Editor.from_pretrained(model)` then `.generate`, `.reconstruct` or `.remove`."""

from __future__ import annotations

import hashlib
import logging
import random
import time
from dataclasses import replace

import numpy as np
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio

from editor.checks import check_guidance, check_seed, check_steps, check_text
from editor.loading import DEFAULT_MODEL, ModelSpec, load_pipeline, upcast_vae_if_it_overflows
from editor.removal.fill import fill_from_surroundings
from editor.looking import PresenceChecks, cost_of, where_targets_are
from editor.removal.masks import MaskConfig, feathered_mask, instance_count, pixel_blend
from editor.photos.photo_io import Photo, finish, from_model, photo_from_any, to_model
from editor.presets import Preset
from editor.removal.repaint import REPAINT_STRENGTH, latent_hole, repaint
from editor.removal.request import RemovalRequest, as_list, chunks_of_one_size, resolve_removal
from editor.result import EditResult, calls_with_inversion, result_from, timed
from editor.removal.sampler import BranchOutput, Plan, run_branches, swr_embedding
from editor.removal.side_by_side import branches_side_by_side, invert_side_by_side
from editor.removal.seam import match_seam
from inversion import invert
from unwant.presence import Presence, PresenceConfig
from unwant.sd.calls import UNetCallCounter, UNetCalls
from unwant.sd.errors import UnwantError
from unwant.sd.text import encode_prompt, warn_if_truncated
from unwant.sd.vae import decode_latents, encode_image
from suppression.config import SuppressionConfig
from suppression.negation import negated_targets
from suppression.pooled import suppressed_pooled
from suppression.tokens import locate_tokens, words_after

log = logging.getLogger("unwant")


class Editor:
    """Loads a Stable Diffusion pipeline once and runs generation, reconstruction and removal with it.

    One Editor serves one call at a time: a call swaps the UNet's attention processors in place and keeps the last
    removal for reuse, so threads that share a model take turns (the web page queues its requests), or each holds its
    own Editor (a batch on Ray: one per actor). No call changes state of the caller's process beyond the Editor."""

    def __init__(self, pipe, model: str = ""):
        self.pipe = pipe
        self.model = model
        self.spec = ModelSpec(model or DEFAULT_MODEL)  # how to load it again: a folder edit on Ray loads one per actor
        for module in (pipe.unet, pipe.vae, pipe.text_encoder, getattr(pipe, "text_encoder_2", None)):
            if module is not None:
                module.requires_grad_(False)  # ITO differentiates w.r.t. the embedding only: no weight gradients to keep
        upcast_vae_if_it_overflows(pipe)  # a float16 SDXL pipeline built by the caller, not by load_pipeline
        self._last_inversion = None  # (key, InversionResult) of the latest photo
        self._last_branches = None  # (key, BranchOutput) of the latest removal: another fill or mask of it is instant
        self._warned: set[tuple[str, tuple[str, ...]]] = set()  # (prompt, targets) already warned about
        self._cut_noted: set[str] = set()  # prompts over the text encoder's length already noted
        self.checks = PresenceChecks(pipe)  # presence checks made, kept for the removal of the same photo

    @classmethod
    def from_pretrained(cls, model: str = DEFAULT_MODEL, device=None, dtype=None, **kwargs) -> "Editor":
        """Load `model` (hub id, diffusers folder, .safetensors file or "toyworld"); see `load_pipeline`."""
        editor = cls(load_pipeline(model, device=device, dtype=dtype, **kwargs), str(model))
        editor.spec = ModelSpec.of(model, device, dtype, **kwargs)
        return editor

    # -- named steps -------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.pipe._execution_device  # the GPU even when model offload keeps the weights on the CPU

    @property
    def size_multiple(self) -> int:
        """Pixels per latent cell times the UNet's total downsampling, so every attention map has whole cells."""
        return self.pipe.vae_scale_factor * 2 ** (len(self.pipe.unet.config.block_out_channels) - 1)

    @property
    def native_size(self) -> int:
        return self.pipe.unet.config.sample_size * self.pipe.vae_scale_factor

    def prepare_latents(self, seed: int, height: int, width: int) -> torch.Tensor:
        """x_T from a CPU generator, so one seed gives one image on every device.

        Unit variance: DDIM's start, whatever the shipped scheduler's init_noise_sigma (Euler's is about 14.6)."""
        generator = torch.Generator("cpu").manual_seed(seed)
        shape = (1, self.pipe.unet.config.in_channels, height // self.pipe.vae_scale_factor, width // self.pipe.vae_scale_factor)
        return torch.randn(shape, generator=generator).to(self.device)

    def encode_photo(self, photo: Photo) -> tuple[torch.Tensor, Image.Image]:
        """The photo resized for the model, and its VAE latent z_0."""
        resized = to_model(photo, self.native_size, self.size_multiple)
        pixels = torch.from_numpy(np.asarray(resized, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None]
        return encode_image(self.pipe, pixels.to(self.device)), resized

    def decode(self, z: torch.Tensor) -> Image.Image:
        image = decode_latents(self.pipe, z)[0].permute(1, 2, 0).cpu().numpy()
        return Image.fromarray(np.round((image + 1) * 127.5).clip(0, 255).astype(np.uint8))

    def prepare_inversion(self, photo: Photo, prompt: str, inversion: str, steps: int, guidance: float, progress: bool, timings: dict,
                          null_text_iterations: int = 10, z0: torch.Tensor | None = None):
        """Encode the photo (unless its `z0` is given) and the prompt, then invert (cached): the start of reconstruct and remove."""
        with timed(timings, "encode"):
            z0 = self.encode_photo(photo)[0] if z0 is None else z0
            cond = encode_prompt(self.pipe, prompt)
        inverted, cached = self.invert_photo(z0, cond, inversion, steps, guidance, progress, null_text_iterations)
        timings["invert"] = inverted.seconds  # its cost even when reused from the cache
        return cond, inverted, cached

    def invert_photo(
        self, z0: torch.Tensor, cond: torch.Tensor, method: str, steps: int, guidance: float, progress: bool, null_text_iterations: int = 10
    ):
        """Invert z_0 under the prompt; the last inversion is kept, so editing one photo again skips it."""
        digest = hashlib.sha1(z0.cpu().numpy().tobytes() + cond.cpu().float().numpy().tobytes()).hexdigest()
        key = (digest, method, steps, guidance, null_text_iterations if method == "null-text" else None)
        if self._last_inversion is not None and self._last_inversion[0] == key:
            return self._last_inversion[1], True
        inverted = invert(self.pipe, z0, cond, method=method, steps=steps, guidance=guidance, progress=progress, null_text_iterations=null_text_iterations)
        self._last_inversion = (key, inverted)
        return inverted, False

    def forget_last_photo(self) -> None:
        """Drop the kept inversion and removal, so the next edit of the same photo pays for its own (what a benchmark times)."""
        self._last_inversion = self._last_branches = None
        self.checks.forget()

    def _branches(self, inverted, plan: Plan, progress: bool, timings: dict) -> tuple[BranchOutput, UNetCalls]:
        """Both branches, or the last removal's where nothing the loop reads has changed; with the calls a reuse did
        not make, so that its cost is reported as a reused inversion's is."""
        key = (self._last_inversion[0], plan.layout, plan.config, plan.mask, plan.suppress)
        if self._last_branches is not None and self._last_branches[0] == key:
            _, branches, calls, timings["suppress"] = self._last_branches
            return branches, calls
        with timed(timings, "suppress"), UNetCallCounter(self.pipe.unet) as calls:
            branches = run_branches(self.pipe, inverted.x_T, plan, progress)
        self._last_branches = (key, branches, replace(calls), timings["suppress"])
        return branches, UNetCalls()

    def _repaint(self, filled: np.ndarray, soft: np.ndarray, inverted, removal: RemovalRequest, cond: torch.Tensor,
                 seed: int | None) -> np.ndarray:
        """The model's version of the classical fill, at the photo's size (editor/removal/repaint.py): unconditioned
        (fill="repaint"), or by the suppressed branch's SWR embedding with guidance (fill="suppressed")."""
        z_fill, _ = self.encode_photo(photo_from_any(filled, max_megapixels=None))  # the photo's own size, already allowed
        embedding = swr_embedding(self.pipe, removal.plan(inverted, cond)) if removal.fill == "suppressed" else None
        z = repaint(self.pipe, inverted, z_fill, latent_hole(soft, tuple(z_fill.shape[-2:])), REPAINT_STRENGTH, seed=seed or 0,
                    embedding=embedding, guidance=removal.guidance)
        return np.asarray(from_model(self.decode(z), filled.shape[1::-1]))

    def resolve_targets(self, prompt: str, remove: str | list[str] | None) -> list[str]:
        """`remove` if given (an empty list: nothing), else what the prompt negates ("a man without glasses" -> ["glasses"])."""
        return negated_targets(prompt) if remove is None else as_list(remove)

    def _check_prompt(self, prompt: str) -> None:
        """Once per prompt: say where a prompt longer than the text encoder reads is cut."""
        if prompt not in self._cut_noted:
            self._cut_noted.add(prompt)
            warn_if_truncated(self.pipe.tokenizer, prompt)

    def _warn_if_not_last(self, prompt: str, targets: list[str], config: SuppressionConfig) -> None:
        """Once per prompt, with the paper's SWR rows only: words after the target weaken the removal."""
        after = words_after(prompt, targets)
        if after and not config.suppress_words_after and (prompt, tuple(targets)) not in self._warned:
            self._warned.add((prompt, tuple(targets)))
            log.warning("note: %r is followed by %r in the prompt; the text encoder carries it into those words, which "
                        "suppress_words_after=False leaves alone, so removal is weaker: put the target at the end of the prompt", ", ".join(targets), " ".join(after))

    def rivals_of(self, target: str, count: int) -> list[str]:
        """The target's look-alikes in the model's vocabulary, nearest first (cached: the same for every photo)."""
        return self.checks.rivals_of(target, count)

    def look(self, z0: torch.Tensor, removal: RemovalRequest, force: bool, config: PresenceConfig | None) -> dict[str, Presence]:
        """Each target's presence check in the photo whose latent is z0, where the removal reads it: to leave a photo
        without the targets alone (unless `force`), and to keep the mask to the target's own places (editor/looking.py)."""
        if force and removal.mask.target_posterior is None:
            return {}
        return self.checks.look(z0, removal.targets, config or PresenceConfig(), force)

    # -- public calls ------------------------------------------------------------------------------
    def generate(
        self,
        prompt: str,
        remove: str | list[str] | None = None,
        seed: int | None = None,
        steps: int = 50,
        guidance: float = 7.5,
        *,
        negative_prompt: str | None = None,
        config: SuppressionConfig | None = None,
        progress: bool = True,
        **options,
    ) -> EditResult:
        """Text to image; with targets (given or negated in the prompt) the suppressed branch is returned."""
        if prompt is None:
            raise UnwantError("generation needs a prompt: describe the image, e.g. 'a face without glasses'")
        check_text(prompt, "the prompt"), check_text(negative_prompt, "the negative prompt", empty=True)
        check_seed(seed), check_steps(steps), check_guidance(guidance)
        seed = random.randrange(2**31) if seed is None else seed
        targets = self.resolve_targets(prompt, remove)
        config = (config or SuppressionConfig()).with_(**options)
        timings: dict[str, float] = {}
        self._check_prompt(prompt)
        with UNetCallCounter(self.pipe.unet) as calls:
            with timed(timings, "encode"):
                layout = locate_tokens(self.pipe.tokenizer, prompt, targets) if targets else None
                cond = encode_prompt(self.pipe, prompt)
                uncond = encode_prompt(self.pipe, negative_prompt or "")
                size = self.native_size
                pooled = suppressed_pooled(self.pipe, prompt, layout, config) if layout else None
                plan = Plan(steps, cond, [uncond] * steps, guidance, layout, config, suppressed_pooled=pooled)
            with timed(timings, "denoise"):
                branches = run_branches(self.pipe, self.prepare_latents(seed, size, size), plan, progress)
            with timed(timings, "decode"):
                image = self.decode(branches.suppressed)
        return result_from(image, prompt, targets, seed, steps, guidance, timings, replace(calls), branches if layout else None)

    def reconstruct(
        self,
        image,
        prompt: str | None = None,
        inversion: str = "null-text",
        seed: int | None = None,
        steps: int = 50,
        guidance: float = 7.5,
        *,
        resample_prompt: str | None = None,
        negative_prompt: str | None = None,
        progress: bool = True,
    ) -> EditResult:
        """Invert the photo and resample it with no edit; `psnr` says how faithful the inversion is.

        With no prompt the empty prompt is used (then guidance has no effect on the conditional half).
        `resample_prompt` resamples under another prompt and `negative_prompt` replaces the inversion's null embeddings:
        a plain prompt edit with no suppression and no blend, the baseline removal ("a cat and a dog" inverted, "a cat"
        resampled with "a dog" as the negative prompt) that benchmarks.quality compares unwant against."""
        check_steps(steps), check_guidance(guidance), check_seed(seed)
        check_text(prompt, "the prompt", empty=True), check_text(resample_prompt, "the resample prompt", empty=True)
        check_text(negative_prompt, "the negative prompt", empty=True)
        photo = photo_from_any(image)
        prompt = prompt or ""
        timings: dict[str, float] = {}
        self._check_prompt(prompt)
        with UNetCallCounter(self.pipe.unet) as calls:
            cond, inverted, cached = self.prepare_inversion(photo, prompt, inversion, steps, guidance, progress, timings)
            with timed(timings, "denoise"):
                plan = Plan.from_inversion(inverted, cond)
                if resample_prompt is not None:
                    plan.cond = encode_prompt(self.pipe, resample_prompt)
                if negative_prompt is not None:
                    plan.unconds = [encode_prompt(self.pipe, negative_prompt)] * plan.steps
                branches = run_branches(self.pipe, inverted.x_T, plan, progress)
            with timed(timings, "decode"):
                rgb = from_model(self.decode(branches.original), photo.size)
                output = finish(rgb, photo)
        calls = calls_with_inversion(calls, inverted, cached)
        psnr = peak_signal_noise_ratio(np.asarray(photo.rgb), np.asarray(rgb.convert("RGB")), data_range=255)
        return result_from(output, prompt, [], seed, steps, guidance, timings, calls, None, inversion=inversion, psnr=float(psnr))

    def presence(self, image, target: str, *, rivals: list[str] | None = None, config: PresenceConfig | None = None) -> Presence:
        """How likely `target` is in the photo, from the model itself: `.score` 0-1, `.present` above the threshold.

        The target is judged against its `rivals` (default: its nearest look-alikes in the model's vocabulary) cell by
        cell; about 0.4x the time of a plain 50-step image (README, "Quality: dataset presence")."""
        if not isinstance(target, str) or not target.strip():
            raise UnwantError("the presence check needs a target: a name such as 'glasses'")
        started = time.perf_counter()
        z0, _ = self.encode_photo(photo_from_any(image))
        result = self.checks.check(z0, target, rivals, config or PresenceConfig())  # a copy: its seconds are this call's
        result.seconds = time.perf_counter() - started
        return result

    def _resolve_removal(self, target, prompt, preset, inversion, steps, guidance, blend, fill, mask, config, options) -> RemovalRequest:
        """What a removal call's arguments come to, checked before any work (a missing target fails here)."""
        removal = resolve_removal(self.pipe, target, prompt, preset, inversion, steps, guidance, blend, fill, mask, config, options)
        self._check_prompt(removal.prompt)
        self._warn_if_not_last(removal.prompt, removal.targets, removal.config)
        return removal

    def _finish_removal(self, photo: Photo, branches: BranchOutput, inverted, removal: RemovalRequest, timings: dict,
                        cond: torch.Tensor, seed: int | None, looked: dict[str, Presence]) -> tuple[Image.Image, np.ndarray]:
        """After the loop: the object's mask from its attention where the presence checks place the target, the fill,
        and the blend at the photo's own size."""
        with timed(timings, "decode"):
            edited = from_model(self.decode(branches.suppressed), photo.size) if removal.suppress else None
            rgb = np.asarray(photo.rgb)
            soft = feathered_mask(branches.target_maps.numpy(), rgb.shape[:2], removal.mask, image=rgb,
                                  posterior=where_targets_are(looked))
        if removal.blend:
            with timed(timings, "fill"):
                if removal.fill == "model":
                    source = np.asarray(edited)
                else:
                    source = fill_from_surroundings(rgb, soft, removal.mask.work_side)
                    if removal.fill in ("repaint", "suppressed"):
                        source = self._repaint(source, soft, inverted, removal, cond, seed)
                if removal.mask.match_seam and removal.fill != "surroundings":  # decoded by the VAE: meet the photo at the edge
                    source = match_seam(source, rgb, soft)
                edited = Image.fromarray(pixel_blend(rgb, source, soft))
        return finish(edited, photo, soft if removal.blend else None), soft

    def _removal_result(self, image: Image.Image, soft: np.ndarray, removal: RemovalRequest, seed, timings, calls, branches,
                        looked: dict[str, Presence]) -> EditResult:
        mask_image = Image.fromarray(np.round(soft * 255).astype(np.uint8), "L")
        instances = 0 if branches is None or not soft.any() else instance_count(branches.target_maps.numpy(), soft.shape, removal.mask,
                                                                                  where_targets_are(looked))
        return result_from(image, removal.prompt, removal.targets, seed, removal.steps, removal.guidance, timings, calls, branches,
                           mask=mask_image, inversion=removal.inversion, presence=looked, instances=instances)

    def remove(
        self,
        image,
        target: str | list[str],
        *,
        prompt: str | None = None,
        seed: int | None = None,
        preset: str | Preset = "quality",
        inversion: str | None = None,
        steps: int | None = None,
        guidance: float = 7.5,
        blend: bool = True,
        fill: str = "repaint",
        mask: MaskConfig | None = None,
        config: SuppressionConfig | None = None,
        force: bool = False,
        presence: PresenceConfig | None = None,
        progress: bool = True,
        **options,
    ) -> EditResult:
        """Remove `target` from a real photo: look for it, invert, run both branches, blend so only its places change.

        The presence check comes first: where no target seems present (or the model's vocabulary.txt lacks its words)
        the photo comes back as it was (`.absent`, `.found` False) unless `force`; its per-cell posterior keeps the mask to the target's own places, every instance
        of it and no look-alike (`mask.target_posterior`; `.instances` counts them). `presence`: the check's settings.

        `fill` says what goes where the object was: "repaint" paints it in from the pixels around it, then lets the model
        repaint that for texture; "surroundings" stops after the first part; "model" takes the suppressed branch's
        pixels (the paper's; it often draws a copy of a neighbour there). Only then, or with blend=False, does the
        suppressed branch run, so `config` and the keyword options (SWR and ITO settings) change nothing otherwise."""
        check_seed(seed)
        removal = self._resolve_removal(target, prompt, preset, inversion, steps, guidance, blend, fill, mask, config, options)
        photo = photo_from_any(image)
        timings: dict[str, float] = {}
        with timed(timings, "encode"):
            z0, _ = self.encode_photo(photo)
        with timed(timings, "look"):
            looked = self.look(z0, removal, force, presence)
        looking = cost_of(looked)
        if looked and not force and not any(check.present and not self.checks.unknown_words(target) for target, check in looked.items()):
            nothing = np.zeros(photo.rgb.size[::-1], np.float32)  # absent, or a word the model was never taught
            result = self._removal_result(finish(photo.rgb, photo, nothing), nothing, removal, seed, timings, looking, None, looked)
            return replace(result, absent=True)
        with UNetCallCounter(self.pipe.unet) as calls:
            cond, inverted, cached = self.prepare_inversion(photo, removal.prompt, removal.inversion, removal.steps, guidance, progress,
                                                            timings, removal.null_text_iterations, z0)
            branches, reused = self._branches(inverted, removal.plan(inverted, cond), progress, timings)
            image, soft = self._finish_removal(photo, branches, inverted, removal, timings, cond, seed, looked)
        calls = calls_with_inversion(calls, inverted, cached) + reused + looking
        return self._removal_result(image, soft, removal, seed, timings, calls, branches, looked)

    def remove_batch(self, images: list, target: str | list[str], *, batch_size: int = 4, prompt: str | None = None,
                     seed: int | None = None, preset: str | Preset = "quality", inversion: str | None = None, steps: int | None = None,
                     guidance: float = 7.5, blend: bool = True, fill: str = "repaint", mask: MaskConfig | None = None,
                     config: SuppressionConfig | None = None, presence: PresenceConfig | None = None, progress: bool = True,
                     **options) -> list[EditResult]:
        """`remove` for several photos, up to `batch_size` of one model size in each UNet forward of the inversion and
        the loop: one result per photo, in order, each what `remove` makes of it up to float rounding.

        Null-text inversion optimises each photo's embeddings, and ITO (fill="model" or blend=False with an ITO preset)
        each photo's prompt embedding: those stages run photo by photo, the rest side by side. Every photo is edited:
        leaving out those without the targets is the caller's (a folder edit checks them first, editor/dataset)."""
        if not isinstance(batch_size, int) or batch_size < 1:
            raise UnwantError(f"batch_size must be a whole number of photos, at least 1, not {batch_size!r}")
        removal = self._resolve_removal(target, prompt, preset, inversion, steps, guidance, blend, fill, mask, config, options)
        photos = [photo_from_any(image) for image in images]
        timings = [{} for _ in photos]
        latents, looked = [], []
        for photo, photo_timings in zip(photos, timings):
            with timed(photo_timings, "encode"):
                latents.append(self.encode_photo(photo)[0])
            with timed(photo_timings, "look"):  # where the posterior places the targets; a batch's own check came first
                looked.append(self.look(latents[-1], removal, True, presence))
        cond = encode_prompt(self.pipe, removal.prompt)
        results: list[EditResult | None] = [None] * len(photos)
        for chunk in chunks_of_one_size(latents, batch_size):
            shared: dict[str, float] = {}
            with UNetCallCounter(self.pipe.unet) as calls:
                inverted = invert_side_by_side(self.pipe, [latents[i] for i in chunk], cond, removal, progress, shared)
                with timed(shared, "suppress"):
                    branches = branches_side_by_side(self.pipe, inverted, cond, removal, progress)
            share = replace(calls, rows=calls.rows // len(chunk), backwards=calls.backwards // len(chunk))
            for i, photo_inverted, photo_branches in zip(chunk, inverted, branches):
                timings[i] |= {stage: seconds / len(chunk) for stage, seconds in shared.items()}
                with UNetCallCounter(self.pipe.unet) as own:
                    image, soft = self._finish_removal(photos[i], photo_branches, photo_inverted, removal, timings[i], cond, seed, looked[i])
                results[i] = self._removal_result(image, soft, removal, seed, timings[i], share + own + cost_of(looked[i]), photo_branches,
                                                  looked[i])
        return results
