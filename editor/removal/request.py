"""What one removal call resolved from its arguments (targets, prompt, preset, masks, SWR settings), the same for every
photo it edits, and the plan of the loop it runs."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from editor.checks import check_fill, check_guidance, check_steps, check_text
from editor.presets import preset_settings
from editor.removal.masks import MaskConfig
from editor.removal.sampler import Plan
from suppression.config import SuppressionConfig
from suppression.attention import localisation_factor
from suppression.pooled import suppressed_pooled
from suppression.tokens import locate_tokens
from unwant.sd.errors import UnwantError

REMOVE_PROMPT_TEMPLATE = "a {target}"  # used when no caption is given: the targets, joined by " and "


def as_list(targets: str | list[str] | None) -> list[str]:
    """The targets as a list of names, each checked: a name is text with words in it."""
    if targets is None:
        return []
    if isinstance(targets, str):
        targets = [targets]
    elif not isinstance(targets, (list, tuple)):
        raise UnwantError(f"the target must be a name such as 'glasses' (or a list of names), not a {type(targets).__name__} ({targets!r})")
    for name in targets:
        check_text(name, "the target")
    return list(targets)


def default_prompt(targets: list[str]) -> str:
    """The prompt built from the targets when the user gives no caption: "a glasses", "a blue square and a hat"."""
    return " and ".join(REMOVE_PROMPT_TEMPLATE.format(target=t) for t in targets)



def resolve_removal(pipe, target, prompt, preset, inversion, steps, guidance, blend, fill, mask, config, options) -> "RemovalRequest":
    """`Editor.remove`'s arguments checked and resolved: the preset's defaults, the caption, the targets' tokens."""
    targets = as_list(target)
    if not targets:
        raise UnwantError("nothing to remove: pass --remove TARGET")
    settings = preset_settings(preset)
    check_steps(steps), check_guidance(guidance), check_fill(fill), check_text(prompt, "the prompt", empty=True)
    prompt = prompt or default_prompt(targets)
    config = (config or settings.suppression).with_(**options)
    if config.attention_factor is None and blend and fill != "model":  # the maps feed the mask alone, not ITO's losses:
        config = config.with_(attention_factor=localisation_factor(pipe.unet))  # as fine as the UNet has them (toy: 16 x 16)
    layout = locate_tokens(pipe.tokenizer, prompt, targets)
    removal = RemovalRequest(targets, prompt, layout, inversion or settings.inversion, settings.steps if steps is None else steps, guidance,
                             config, mask or MaskConfig(), blend, fill, settings.null_text_iterations)
    if removal.suppress or fill == "suppressed":  # SDXL: the suppressed embedding's pooled row, where it is used
        removal = replace(removal, suppressed_pooled=suppressed_pooled(pipe, prompt, layout, config))
    return removal


@dataclass(frozen=True)
class RemovalRequest:
    """What one removal call resolved from its arguments, the same for every photo it edits."""

    targets: list[str]
    prompt: str
    layout: object  # suppression.tokens.TokenLayout of the targets in the prompt
    inversion: str
    steps: int
    guidance: float
    config: SuppressionConfig
    mask: MaskConfig
    blend: bool
    fill: str
    null_text_iterations: int
    suppressed_pooled: torch.Tensor | None = None  # SDXL: the pooled embedding of the suppressed branch

    @property
    def suppress(self) -> bool:
        """The suppressed branch's pixels are the output only without the blend or with fill="model"; otherwise the
        loop runs for the targets' attention alone (the mask), at half the cost."""
        return self.fill == "model" or not self.blend

    def plan(self, inverted, cond: torch.Tensor) -> Plan:
        loop_mask = self.mask.in_the_loop() if self.blend and self.suppress else None
        return Plan.from_inversion(inverted, cond, layout=self.layout, config=self.config, mask=loop_mask, suppress=self.suppress,
                                   suppressed_pooled=self.suppressed_pooled)


def chunks_of_one_size(latents: list[torch.Tensor], size: int) -> list[list[int]]:
    """Indices of the photos, grouped by latent size (only those share a UNet batch), `size` at most per group."""
    by_shape: dict[tuple, list[int]] = {}
    for i, z in enumerate(latents):
        by_shape.setdefault(tuple(z.shape), []).append(i)
    return [group[k:k + size] for group in by_shape.values() for k in range(0, len(group), size)]
