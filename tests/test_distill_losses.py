import math

import pytest
import torch

from optimum_ro.distillation.losses import (
    cosine_hidden_loss,
    cross_entropy_loss,
    ensemble_probabilities,
    mlm_loss,
    mse_loss,
    soft_target_loss,
    teacher_probabilities,
)


def test_soft_target_loss_hand_computed():
    # student logits (0, 0) -> uniform at any T; teacher probs (0.8, 0.2)
    s = torch.zeros(1, 2)
    p_t = torch.tensor([[0.8, 0.2]])
    kl = 0.8 * math.log(0.8 / 0.5) + 0.2 * math.log(0.2 / 0.5)
    assert soft_target_loss(s, p_t, temperature=1.0).item() == pytest.approx(kl, rel=1e-6)
    assert soft_target_loss(s, p_t, temperature=2.0).item() == pytest.approx(4 * kl, rel=1e-6)
    # zero when student matches teacher at temperature T
    logits = torch.tensor([[1.0, -2.0, 0.5]])
    assert soft_target_loss(logits, teacher_probabilities(logits, 3.0), temperature=3.0).item() == pytest.approx(
        0, abs=1e-6
    )


def test_soft_target_loss_mask_and_normalizer():
    s = torch.zeros(1, 3, 2)
    p_t = torch.tensor([[[0.8, 0.2], [0.5, 0.5], [0.8, 0.2]]])
    kl = 0.8 * math.log(1.6) + 0.2 * math.log(0.4)
    mask = torch.tensor([[True, True, False]])
    assert soft_target_loss(s, p_t, mask=mask).item() == pytest.approx(kl / 2, rel=1e-6)
    assert soft_target_loss(s, p_t, mask=mask, normalize_by=4).item() == pytest.approx(kl / 4, rel=1e-6)
    with pytest.raises(ValueError, match="share the label space"):
        soft_target_loss(torch.zeros(1, 3), torch.full((1, 2), 0.5))


def test_cross_entropy_and_mlm():
    logits = torch.log(torch.tensor([[[0.25, 0.75], [0.5, 0.5]]]))
    labels = torch.tensor([[1, -100]])
    assert cross_entropy_loss(logits, labels).item() == pytest.approx(-math.log(0.75), rel=1e-6)
    assert mlm_loss(logits, torch.tensor([[1, 0]]), normalize_by=4).item() == pytest.approx(
        (-math.log(0.75) - math.log(0.5)) / 4, rel=1e-6
    )


def test_cosine_hidden_loss():
    s = torch.tensor([[[1.0, 0.0], [1.0, 0.0], [5.0, 5.0]]])
    t = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert cosine_hidden_loss(s, t, mask).item() == pytest.approx((0 + 1) / 2)
    assert cosine_hidden_loss(s[:, :1], -t[:, :1]).item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="project the student"):
        cosine_hidden_loss(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4))


def test_mse_and_ensemble():
    assert mse_loss(torch.tensor([[1.0], [3.0]]), torch.tensor([2.0, 3.0])).item() == pytest.approx(0.5)
    p_a, p_b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert torch.allclose(ensemble_probabilities([p_a, p_b], [3, 1]), torch.tensor([[0.75, 0.25]]))
    assert torch.allclose(ensemble_probabilities([p_a, p_b]), torch.tensor([[0.5, 0.5]]))
    with pytest.raises(ValueError, match="one weight per teacher"):
        ensemble_probabilities([p_a, p_b], [1.0])
    with pytest.raises(ValueError, match="align them"):
        ensemble_probabilities([p_a, torch.zeros(1, 3)])
    with pytest.raises(ValueError, match="temperature"):
        teacher_probabilities(p_a, 0)
