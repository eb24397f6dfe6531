"""DiffAugment equals the authors' reference code, keeps shapes and passes gradients; ADA's p follows r_t."""

import pytest
import torch
import torch.nn.functional as F

from textgan.errors import UserError
from textgan.image.augment import AdaptiveP, cutout, diff_augment, parse_policy


# --- the reference: mit-han-lab/data-efficient-gans, DiffAugment_pytorch.py, transcribed ---
def _ref_brightness(x):
    return x + (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)


def _ref_saturation(x):
    x_mean = x.mean(dim=1, keepdim=True)
    return (x - x_mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) * 2) + x_mean


def _ref_contrast(x):
    x_mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - x_mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + x_mean


def _ref_translation(x, ratio=0.125):
    shift_x, shift_y = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    translation_x = torch.randint(-shift_x, shift_x + 1, size=[x.size(0), 1, 1], device=x.device)
    translation_y = torch.randint(-shift_y, shift_y + 1, size=[x.size(0), 1, 1], device=x.device)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long), torch.arange(x.size(2), dtype=torch.long),
        torch.arange(x.size(3), dtype=torch.long), indexing="ij")
    grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)


def _ref_cutout(x, ratio=0.5):
    cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    offset_x = torch.randint(0, x.size(2) + (1 - cutout_size[0] % 2), size=[x.size(0), 1, 1], device=x.device)
    offset_y = torch.randint(0, x.size(3) + (1 - cutout_size[1] % 2), size=[x.size(0), 1, 1], device=x.device)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long), torch.arange(cutout_size[0], dtype=torch.long),
        torch.arange(cutout_size[1], dtype=torch.long), indexing="ij")
    grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype, device=x.device)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


REFERENCE = {"color": [_ref_brightness, _ref_saturation, _ref_contrast], "translation": [_ref_translation],
             "cutout": [_ref_cutout]}


@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32), (3, 15)])
def test_equals_the_reference_code(channels, size):
    x = torch.randn(8, channels, size, size)
    torch.manual_seed(5)
    ours = diff_augment(x, parse_policy("color,translation,cutout"))
    torch.manual_seed(5)
    ref = x
    for policy in ("color", "translation", "cutout"):
        for f in REFERENCE[policy]:
            ref = f(ref)
    assert ours.shape == x.shape and torch.equal(ours, ref)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_differentiable_and_shape_preserving(policy):
    x = torch.randn(6, 3, 16, 16, requires_grad=True)
    out = diff_augment(x, parse_policy(policy), p=0.5)
    assert out.shape == x.shape
    (out * torch.randn_like(out)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_probability_zero_is_identity_and_cutout_zeroes_at_most_a_quarter():
    x = torch.ones(4, 1, 32, 32)
    assert diff_augment(x, parse_policy("color,translation,cutout"), p=0.0) is x
    zeros = (cutout(x) == 0).flatten(1).sum(1)
    assert ((zeros > 0) & (zeros <= 16 * 16)).all()


def test_unknown_policy_is_a_user_error():
    with pytest.raises(UserError, match="unknown augmentation 'colour'"):
        parse_policy("colour,cutout")


def test_ada_p_rises_above_the_target_and_falls_below():
    ada = AdaptiveP(target=0.6, images_to_one=640)
    confident = torch.tensor([2.0] * 9 + [-1.0])  # r_t = 0.8 > 0.6
    for _ in range(3):
        ada.update(confident)
    assert ada.p == pytest.approx(3 * 10 / 640)
    unsure = torch.tensor([1.0] * 6 + [-1.0] * 4)  # r_t = 0.2 < 0.6
    ada.update(unsure)
    assert ada.p == pytest.approx(2 * 10 / 640)
    for _ in range(10):
        ada.update(unsure)
    assert ada.p == 0.0
    for _ in range(200):
        ada.update(confident)
    assert ada.p == 1.0
    restored = AdaptiveP()
    restored.load_state_dict(ada.state_dict())
    assert restored.p == 1.0
