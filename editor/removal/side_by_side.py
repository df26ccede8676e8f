"""A batch's photos of one size through the inversion and the loop together: one UNet forward serves them all, except
where a stage optimises per photo (null-text inversion, ITO)."""

from __future__ import annotations

import torch

from editor.removal.request import RemovalRequest
from editor.removal.sampler import BranchOutput, Plan, run_branches, run_branches_batch
from editor.result import timed
from inversion import invert


def invert_side_by_side(pipe, latents: list[torch.Tensor], cond: torch.Tensor, removal: RemovalRequest, progress: bool,
                        timings: dict) -> list:
    """Invert photos of one size: DDIM, direct and negative-prompt in one batch, null-text photo by photo."""
    with timed(timings, "invert"):
        if removal.inversion == "null-text":
            return [invert(pipe, z0, cond, method="null-text", steps=removal.steps, guidance=removal.guidance,
                           progress=progress, null_text_iterations=removal.null_text_iterations) for z0 in latents]
        together = invert(pipe, torch.cat(latents), cond.expand(len(latents), -1, -1), method=removal.inversion,
                          steps=removal.steps, guidance=removal.guidance, progress=progress)
        return together.split()


def branches_side_by_side(pipe, inverted: list, cond: torch.Tensor, removal: RemovalRequest, progress: bool) -> list[BranchOutput]:
    """The loop for photos of one size in one batch, or photo by photo where it runs ITO."""
    plans = [removal.plan(photo_inverted, cond) for photo_inverted in inverted]
    swr_from, ito_until = removal.config.steps_window(removal.steps)
    if removal.suppress and removal.config.optimize and swr_from < ito_until:
        return [run_branches(pipe, photo_inverted.x_T, plan, progress) for photo_inverted, plan in zip(inverted, plans)]
    x_T = torch.cat([photo_inverted.x_T for photo_inverted in inverted])
    return run_branches_batch(pipe, x_T, Plan.batched(plans), progress)
