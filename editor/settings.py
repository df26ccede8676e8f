"""What an edit made from files is made with: one photo (`editor/files.py`) or a folder (`editor/dataset/folder.py`)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from editor.checks import check_fill, check_guidance, check_mask_threshold, check_megapixels, check_seed, check_steps, check_text
from unwant.sd.errors import UnwantError

log = logging.getLogger("unwant")
# what each painter of the object's place reads of the options that shape a removal (the rest it ignores)
OPTIONS_READ_BY_FILL = {
    "surroundings": (),  # OpenCV's fill: no model after the loop
    "repaint": ("--seed",),  # unconditioned: its noise only
    "suppressed": ("--seed", "--guidance", "--alpha"),  # the SWR embedding, guided; no ITO in the repaint
    "model": ("--guidance", "--alpha", "--no-optimize"),  # the suppressed branch from the inversion's x_T: no new noise
}
FILL_READS = {"surroundings": "paints from the pixels around the object, with no model", "repaint": "repaints unconditioned",
              "suppressed": "repaints with the suppressed embedding, without ITO",
              "model": "takes the suppressed branch from the inversion's own noise"}
# measured by benchmarks.speed (toy model, CPU): removal with the reference preset 21.8 s, with quality 4.0 s
QUALITY_SPEEDUP_ON_CPU = 5


@dataclass(frozen=True)
class EditSettings:
    """`Editor.remove`'s (or, with `reconstruct`, `Editor.reconstruct`'s) settings, plus how the output is written.
    Checked when made, so a bad number is refused before the model loads."""

    remove: tuple[str, ...] = ()  # the words to remove
    prompt: str | None = None  # the photo's caption (None: "a photo of a <target>")
    preset: str = "quality"  # editor/presets.py
    inversion: str | None = None  # None: the preset's (reconstruct: null-text)
    steps: int | None = None  # None: the preset's (reconstruct: 50)
    guidance: float | None = None  # None: the Editor's (7.5); a removal reads it only where the suppressed branch paints (check below)
    seed: int | None = None  # the repaint's noise (None: 0)
    fill: str = "repaint"  # editor/removal/fill.py
    blend: bool = True  # keep the photo outside the object's mask
    mask_threshold: float | None = None  # None: MaskConfig's
    alpha: float | None = None  # None: SuppressionConfig's
    optimize: bool = True  # ITO where the preset runs it
    negative_prompt: str | None = None  # reconstruct only: a removal suppresses the target itself
    reconstruct: bool = False  # invert and resample unedited (checks the inversion) instead of removing
    concat: bool = False  # write input | mask | result side by side
    strip_metadata: bool = False  # write no EXIF, ICC profile, XMP or DPI
    max_megapixels: float = 50.0  # refuse larger photos
    check_first: bool = True  # look for the targets first: a photo without them is left alone (a folder's: status "absent")
    presence_threshold: float | None = None  # None: PresenceConfig's (tuned on the toy world; check it on your data)

    def __post_init__(self):
        object.__setattr__(self, "remove", (self.remove,) if isinstance(self.remove, str) else tuple(self.remove or ()))
        for target in self.remove:
            check_text(target, "--remove")
        if not self.reconstruct and not self.remove:
            raise UnwantError("what should go? pass --remove TARGET (or --reconstruct to check the inversion)")
        if self.negative_prompt is not None and not self.reconstruct:
            raise UnwantError("--negative-prompt is for generation and --reconstruct: a removal suppresses the target itself "
                              "and reads no negative prompt")
        check_text(self.prompt, "--prompt", empty=True), check_steps(self.steps, "--steps"), check_guidance(self.guidance)
        check_fill(self.fill), check_megapixels(self.max_megapixels), check_seed(self.seed)
        self._check_each_option_matters()
        if self.mask_threshold is not None:
            check_mask_threshold(self.mask_threshold)
        from suppression.config import SuppressionConfig

        SuppressionConfig().with_(alpha=self.alpha)
        self.presence_config()  # a threshold out of range: refused here, before any work

    def _check_each_option_matters(self) -> None:
        """An option this edit would not read is refused in one line, not silently ignored: a user who sets the
        guidance of a removal that runs no guided branch should learn it before the run, not from an unchanged output."""
        if self.reconstruct:
            ignored = {"--seed": self.seed is not None, "--alpha": self.alpha is not None, "--no-optimize": not self.optimize}
            reader = "--reconstruct resamples the photo unedited"
        else:
            painter = "model" if not self.blend else self.fill
            reads = OPTIONS_READ_BY_FILL[painter]
            given = {"--seed": self.seed is not None, "--guidance": self.guidance is not None, "--alpha": self.alpha is not None,
                     "--no-optimize": not self.optimize}
            ignored = {flag: was for flag, was in given.items() if flag not in reads}
            reader = f"--fill {self.fill} {FILL_READS[painter]}" if self.blend else f"--no-blend {FILL_READS['model']}"
        unread = [flag for flag, was in ignored.items() if was]
        if unread:
            readers = [f"--fill {fill}" for fill, flags in OPTIONS_READ_BY_FILL.items() if all(f in flags for f in unread)
                       and self.blend and not self.reconstruct]
            hint = f"use {' or '.join(readers)}, or leave {' and '.join(unread)} out" if readers else f"leave {' and '.join(unread)} out"
            raise UnwantError(f"{' and '.join(unread)} would change nothing: {reader}; {hint}")

    def removal_options(self, progress: bool) -> dict:
        """`Editor.remove`'s keyword arguments."""
        from editor.removal.masks import MaskConfig

        mask = MaskConfig() if self.mask_threshold is None else MaskConfig(threshold=self.mask_threshold)
        options = dict(prompt=self.prompt, preset=self.preset, inversion=self.inversion, steps=self.steps, blend=self.blend,
                       fill=self.fill, mask=mask, progress=progress, alpha=self.alpha, seed=self.seed, presence=self.presence_config(),
                       **self._guidance_given())
        return options if self.optimize else options | {"optimize": False}

    def presence_config(self):
        """The presence check's settings, before editing and after."""
        from unwant.presence.config import PresenceConfig

        return PresenceConfig().with_(threshold=self.presence_threshold)

    def _guidance_given(self) -> dict:
        """The guidance keyword where one was set; unset, the Editor's own default applies."""
        return {} if self.guidance is None else {"guidance": self.guidance}

    def edit(self, editor, photo, progress: bool):
        """This edit of one photo: its EditResult."""
        if self.reconstruct:
            return editor.reconstruct(photo, prompt=self.prompt, inversion=self.inversion or "null-text", steps=self.steps or 50,
                                      negative_prompt=self.negative_prompt, progress=progress, **self._guidance_given())
        return editor.remove(photo, list(self.remove), force=not self.check_first, **self.removal_options(progress))

    def recorded(self, spec) -> dict:
        """What each report line of a folder carries: the model and every setting that changes an output's pixels or
        whether it is written (not how many photos share a UNet batch, nor the size limit), as JSON reads it back."""
        chosen = {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()
                  if key not in ("batch_size", "max_megapixels")}
        return {"model": spec.model, "config": spec.config, **chosen}

    def say_what_runs(self, editor) -> None:
        """One log line before the work: which preset runs, and on a CPU what the quality preset saves over reference."""
        if self.reconstruct:
            return
        from editor.presets import PRESETS

        preset = PRESETS[self.preset]
        line = f"{self.preset} preset: {self.inversion or preset.inversion} inversion, {self.steps or preset.steps} steps"
        if self.preset == "reference" and editor.device.type == "cpu":
            line += f"; on a CPU, --preset quality is about {QUALITY_SPEEDUP_ON_CPU}x faster"
        log.info(line)
