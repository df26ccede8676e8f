"""ITO's losses: the production "reference" form pinned to a loop-by-loop version of the reference code's loss written
here, the other forms' signs, and the step-size schedule and window."""

import pytest

from unwant.sd.errors import UnwantError
import torch
import torch.nn.functional as F

from suppression.config import SuppressionConfig
from suppression.ito import attention_loss, step_sizes
from suppression.losses import column_distances, paper_loss, reference_loss, word_masks
from suppression.tokens import locate_tokens
from benchmarks.toyworld.architecture import make_tokenizer


# -- the reference code's loss, one token and one pixel at a time -------------------------------------


def cosine_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return 1 - torch.dot(x, y) / (x.norm() * y.norm())


def loop_mask(word_map: torch.Tensor, threshold: float, size: tuple[int, int]) -> torch.Tensor:
    """One word's mask as losses/attn_loss.py draws it: scaled to 255 / max, 256 x 256, cut at threshold x max, back."""
    image = word_map.reshape(1, 1, *size).clone()
    image = 255 * image / image.max()
    image = F.interpolate(image, size=(256, 256), mode="bilinear")
    image[image >= image.max() * threshold] = 255
    image[image < image.max() * threshold] = 0
    return F.interpolate(image, size=size, mode="bilinear").reshape(-1)


def loop_reference_loss(cross, cross_hat, self_attn, self_hat, n: int, targets: list[int], size: tuple[int, int]):
    """The table's left column: words 1..n-2, +1 for a kept word and -0.5 for a target piece, on its cross-attention
    map and on the self-attention column of every pixel of its mask (0.95 x max kept, 0.85 x max target)."""
    loss = torch.zeros((), dtype=torch.float64)
    for i in range(1, n - 1):
        target = i in targets
        weight, threshold = (-0.5, 0.85) if target else (1.0, 0.95)
        loss = loss + weight * cosine_distance(cross[:, i], cross_hat[:, i])
        mask = loop_mask(cross[:, i], threshold, size)
        for j in range(size[0] * size[1]):
            if mask[j] > 0:
                loss = loss + weight * cosine_distance(self_attn[:, j], self_hat[:, j])
    return loss


def random_maps(size: tuple[int, int], tokens: int = 77, seed: int = 0, dtype=torch.float64):
    """Cross-attention (pixels, tokens) and self-attention (pixels, pixels) as softmax rows of random logits, peaked
    enough that each word's mask is a few pixels, as SD's are."""
    g = torch.Generator().manual_seed(seed)
    pixels = size[0] * size[1]
    cross = (3 * torch.randn(pixels, tokens, generator=g, dtype=dtype)).softmax(-1)
    self_attn = (3 * torch.randn(pixels, pixels, generator=g, dtype=dtype)).softmax(-1)
    return cross, self_attn


SHAPES = {
    "SD 1.5 at 512 px: 16 x 16 maps, 8 words, 2 target pieces": ((16, 16), 10, [4, 5]),
    "toy world at 64 px: 8 x 8 maps, 7 words, 2 target pieces": ((8, 8), 9, [6, 7]),
    "SD at 512 x 384 px: 16 x 12 maps, a target first": ((16, 12), 6, [1]),
}


@pytest.mark.parametrize("size, n, targets", SHAPES.values(), ids=SHAPES.keys())
def test_reference_loss_equals_the_loops_with_its_gradients(size, n, targets):
    cross, self_attn = random_maps(size)
    cross_hat, self_hat = random_maps(size, seed=1)
    kept = [i for i in range(1, n - 1) if i not in targets]
    inputs = [m.clone().requires_grad_(True) for m in (cross_hat, self_hat)]
    ours = reference_loss(cross, inputs[0], self_attn, inputs[1], kept, targets, size, SuppressionConfig())
    ours_grads = torch.autograd.grad(ours, inputs)
    loops = [m.clone().requires_grad_(True) for m in (cross_hat, self_hat)]
    theirs = loop_reference_loss(cross, loops[0], self_attn, loops[1], n, targets, size)
    their_grads = torch.autograd.grad(theirs, loops)
    assert ours.dtype == torch.float64
    assert ours.item() == pytest.approx(theirs.item(), abs=1e-9)
    for mine, reference in zip(ours_grads, their_grads):
        assert reference.abs().max() > 1e-3  # both maps really carry gradient
        assert torch.allclose(mine, reference, rtol=0, atol=1e-9)


def test_reference_loss_counts_a_pixel_once_per_word_whose_mask_holds_it():
    size = (8, 8)
    cross, self_attn = random_maps(size)
    cross[:, 2] = cross[:, 3]  # two kept words with the same map: the same mask, each pixel counted twice
    _, self_hat = random_maps(size, seed=1)
    config = SuppressionConfig(retain_weight=0.0, erase_weight=0.0, self_erase_weight=0.0)
    once = reference_loss(cross, cross, self_attn, self_hat, [3], [4], size, config)
    twice = reference_loss(cross, cross, self_attn, self_hat, [2, 3], [4], size, config)
    assert float(once) > 0.1
    assert float(twice) == pytest.approx(2 * float(once), rel=1e-12)


def test_word_masks_hold_each_words_peak():
    size = (16, 16)
    cross, _ = random_maps(size)
    masks = word_masks(cross, [1, 2, 3], 0.95, size)
    assert masks.shape == (3, 256)
    for row, position in zip(masks, [1, 2, 3]):
        assert row[cross[:, position].argmax()]
        assert 0 < int(row.sum()) < 256 // 4  # a few pixels around the peak, not the whole map


def test_reference_loss_takes_float32_maps_and_computes_in_float64():
    size = (8, 8)
    cross, self_attn = random_maps(size, dtype=torch.float32)
    cross_hat, self_hat = random_maps(size, seed=1, dtype=torch.float32)
    loss = reference_loss(cross, cross_hat, self_attn, self_hat, [1, 2], [3], size, SuppressionConfig())
    expected = reference_loss(*(m.double() for m in (cross, cross_hat, self_attn, self_hat)), [1, 2], [3], size, SuppressionConfig())
    assert loss.dtype == torch.float64 and float(loss) == float(expected)


# -- every form's signs -------------------------------------------------------------------------------

KEPT, ERASED = (1, 2, 3), (4,)
SIZE = (4, 4)


def moved(cross, column, weight):
    """cross with one token's map moved `weight` of the way to a one-hot map on that token's weakest pixel."""
    out = cross.clone()
    far = torch.zeros_like(cross[:, column])
    far[cross[:, column].argmin()] = cross[:, column].sum()
    out[:, column] = (1 - weight) * cross[:, column] + weight * far
    return out


def loss_of(form: str, cross, cross_hat, self_attn, self_hat, kept=KEPT, erased=ERASED, config=None):
    config = config or SuppressionConfig(loss=form)
    if form == "reference":
        return float(reference_loss(cross, cross_hat, self_attn, self_hat, kept, erased, SIZE, config))
    return float(paper_loss(cross, cross_hat, kept, erased, config))


def test_column_distances():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    b = torch.stack([3 * a[:, 0], torch.tensor([1.0, 0.0, 0.0])], 1)
    assert torch.allclose(column_distances(a, b), torch.tensor([0.0, 1.0]), atol=1e-6)  # scale-free, orthogonal


@pytest.mark.parametrize("form", ["reference", "paper"])
def test_every_form_is_zero_for_equal_maps(form):
    cross, self_attn = random_maps(SIZE, dtype=torch.float32)
    assert abs(loss_of(form, cross, cross.clone(), self_attn, self_attn.clone())) < 1e-5


@pytest.mark.parametrize("form", ["reference", "paper"])
def test_every_form_falls_as_the_target_map_moves_away(form):
    cross, self_attn = random_maps(SIZE, dtype=torch.float32)
    losses = [loss_of(form, cross, moved(cross, 4, w), self_attn, self_attn) for w in (0.0, 0.3, 0.6, 0.9)]
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))
    # the retain part is zero while the kept maps are equal: the loss is the erase part alone
    assert losses[-1] == pytest.approx(loss_of(form, cross, moved(cross, 4, 0.9), self_attn, self_attn, kept=()), abs=1e-6)


@pytest.mark.parametrize("form", ["reference", "paper"])
def test_every_form_rises_when_a_kept_map_moves(form):
    cross, self_attn = random_maps(SIZE, dtype=torch.float32)
    assert loss_of(form, cross, moved(cross, 2, 0.5), self_attn, self_attn) > 1e-3


def test_the_self_attention_erase_term_pushes_the_targets_pixels_away():
    cross, self_attn = random_maps(SIZE, dtype=torch.float32)
    assert loss_of("reference", cross, cross, self_attn, self_attn.flip(-1), kept=()) < -1e-3


def test_paper_loss_is_eq_5():
    cross, _ = random_maps(SIZE, dtype=torch.float32)
    config = SuppressionConfig(loss="paper")
    expected = -config.erase_weight * (moved(cross, 4, 0.6)[:, 4] - cross[:, 4]).pow(2).sum()
    assert float(paper_loss(cross, moved(cross, 4, 0.6), KEPT, ERASED, config)) == pytest.approx(float(expected), rel=1e-5)


def test_an_unknown_loss_is_refused():
    with pytest.raises(UnwantError, match="loss must be"):
        SuppressionConfig(loss="mean")


def test_attention_loss_dispatches_on_the_config():
    layout = locate_tokens(make_tokenizer(), "a man with glasses", "glasses")
    cross, self_attn = random_maps(SIZE, dtype=torch.float32)
    hat = moved(cross, 4, 0.5)
    for form in ("reference", "paper"):
        config = SuppressionConfig(loss=form)
        expected = loss_of(form, cross, hat, self_attn, self_attn, layout.kept_positions, layout.target_positions, config)
        assert float(attention_loss(cross, hat, self_attn, self_attn, layout, SIZE, config)) == expected


# -- the schedule -------------------------------------------------------------------------------------


def test_step_sizes_decay_like_the_reference():
    """suppress_eot_w_nulltext.py: scale * sqrt(linspace(1, .1, len(timesteps))[i]) at step i."""
    etas = step_sizes(20.0, 50)
    assert torch.allclose(etas, 20.0 * torch.linspace(1.0, 0.1, 50).sqrt())
    assert float(etas[10]) == pytest.approx(20.0 * (1 - 0.9 * 10 / 49) ** 0.5)


def test_steps_window_is_the_references_at_50_steps_and_scales_with_the_steps():
    config = SuppressionConfig()
    assert (config.ito_iterations, config.step_size) == (10, 20.0)
    assert config.steps_window(50) == (10, 20)  # the reference's cross_retain_steps 0.2 x 50 and max_step_to_erase 20
    assert config.steps_window(40) == (8, 16)
    assert config.steps_window(10) == (2, 4)
