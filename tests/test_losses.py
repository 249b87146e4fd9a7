"""Each loss against values computed by hand, and the trainer's sum of terms."""

from __future__ import annotations

import math

import pytest
import torch

from gnnrec.losses import BPRLoss, DirectAULoss, LossInput, SoftmaxLoss
from gnnrec.losses.functional import info_nce


def batch(users, pos, neg, user_emb, pos_emb, neg_emb) -> LossInput:
    t = torch.tensor
    return LossInput(
        users=t(users),
        pos=t(pos),
        neg=t(neg, dtype=torch.long).view(len(users), -1),
        user_emb=t(user_emb, dtype=torch.float32),
        pos_emb=t(pos_emb, dtype=torch.float32),
        neg_emb=t(neg_emb, dtype=torch.float32).view(len(users), -1, len(user_emb[0])),
    )


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_bpr_one_and_two_negatives():
    # s_pos = [1,0].[1,0] = 1, s_neg = [1,0].[0,1] = 0: -log sigmoid(1) = log(1 + e^-1)
    b = batch([0], [0], [[1]], [[1, 0]], [[1, 0]], [[[0, 1]]])
    assert BPRLoss()(b)["bpr"].item() == pytest.approx(softplus(-1.0), abs=1e-6)
    # two negatives scored 0 and 1: mean(log(1 + e^-1), log(1 + e^0)) = (0.313262 + 0.693147) / 2
    b = batch([0], [0], [[1, 2]], [[1, 0]], [[1, 0]], [[[0, 1], [1, 0]]])
    assert BPRLoss()(b)["bpr"].item() == pytest.approx(0.5032045, abs=1e-6)


def test_softmax_sampled_negatives_and_temperature():
    # cosine logits [1, 0] / tau: tau=1 -> log(1 + e^-1); tau=0.5 -> log(1 + e^-2)
    b = batch([0], [0], [[1]], [[2, 0]], [[3, 0]], [[[0, 5]]])
    one = SoftmaxLoss(temperature=1.0, in_batch=False)(b)["softmax"].item()
    half = SoftmaxLoss(temperature=0.5, in_batch=False)(b)["softmax"].item()
    assert one == pytest.approx(softplus(-1.0), abs=1e-6)
    assert half == pytest.approx(softplus(-2.0), abs=1e-6)
    # dot product instead of cosine: logits [6, 0] -> log(1 + e^-6)
    dot = SoftmaxLoss(temperature=1.0, in_batch=False, cosine=False)(b)["softmax"].item()
    assert dot == pytest.approx(softplus(-6.0), abs=1e-6)


def test_softmax_in_batch_negatives_mask_the_same_item():
    # users [1,0] and [0,1], positives items 5 ([1,0]) and 6 ([0,1]), no sampled negatives:
    # row 0 logits: own 1, other positive 0 -> log(1 + e^-1); row 1 the same.
    b = batch([0, 1], [5, 6], [], [[1, 0], [0, 1]], [[1, 0], [0, 1]], [])
    loss = SoftmaxLoss(temperature=1.0, in_batch=True)
    assert loss(b)["softmax"].item() == pytest.approx(softplus(-1.0), abs=1e-6)
    # both rows share item 5: the other column is the same item and is masked,
    # leaving only the positive: loss 0
    same = batch([0, 1], [5, 5], [], [[1, 0], [0, 1]], [[1, 0], [1, 0]], [])
    assert loss(same)["softmax"].item() == pytest.approx(0.0, abs=1e-6)
    assert loss.min_negatives == 0 and SoftmaxLoss(in_batch=False).min_negatives == 1


def test_softmax_shared_in_batch_negatives_use_the_first_m_positives():
    # three orthogonal users, each with its own positive; m=1: only item 5 (row 0's
    # positive) is a negative. Row 0: it is its own item, masked -> loss 0; rows 1, 2:
    # own logit 1, item 5's logit 0 -> log(1 + e^-1) each.
    eye = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    b = batch([0, 1, 2], [5, 6, 7], [], eye, eye, [])
    shared = SoftmaxLoss(temperature=1.0, in_batch_negatives=1)(b)["softmax"].item()
    assert shared == pytest.approx(2 / 3 * softplus(-1.0), abs=1e-6)
    every = SoftmaxLoss(temperature=1.0)(b)["softmax"].item()
    assert every == pytest.approx(softplus(math.log(2) - 1.0), abs=1e-6)  # log(1 + 2e^-1)
    assert SoftmaxLoss(temperature=1.0, in_batch_negatives=3)(b)["softmax"].item() == every
    with pytest.raises(ValueError, match="in_batch_negatives"):
        SoftmaxLoss(in_batch_negatives=0)


def test_directau_alignment_and_uniformity():
    # users [1,0], [0,1] with positives equal to them: alignment 0.
    # distinct users at squared distance 2: uniformity log(e^{-2*2}) = -4; items likewise.
    b = batch([0, 1], [3, 4], [], [[1, 0], [0, 1]], [[1, 0], [0, 1]], [])
    terms = DirectAULoss(gamma=1.0)(b)
    assert terms["align"].item() == pytest.approx(0.0, abs=1e-6)
    assert terms["uniform"].item() == pytest.approx(-4.0, abs=1e-5)
    # gamma scales uniformity; a repeated user counts once (its pair with itself is not used):
    # user 0 twice, user 1 once -> still one pair at distance^2 2. Alignment: ||[1,0]-[0,1]||^2
    # = 2 for the third row, mean 2/3. Items 3 and 4 (item 3 twice) -> one pair, -4.
    b = batch([0, 0, 1], [3, 3, 4], [], [[1, 0], [1, 0], [0, 1]], [[1, 0], [1, 0], [1, 0]], [])
    # item rows: item 3 -> [1,0] (first occurrence), item 4 -> [1,0]: distance 0 -> log 1 = 0
    terms = DirectAULoss(gamma=2.0)(b)
    assert terms["align"].item() == pytest.approx(2 / 3, abs=1e-6)
    assert terms["uniform"].item() == pytest.approx(2.0 * (-4.0 + 0.0) / 2, abs=1e-5)


def test_info_nce_by_hand():
    # views a = [[1,0],[0,1]], b = a, tau = 1: each row's logits [1, 0] -> log(1 + e^-1)
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert info_nce(a, a.clone(), 1.0).item() == pytest.approx(softplus(-1.0), abs=1e-6)
    # tau = 0.5 doubles the logits -> log(1 + e^-2)
    assert info_nce(a, a.clone(), 0.5).item() == pytest.approx(softplus(-2.0), abs=1e-6)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SoftmaxLoss(temperature=0), "temperature"),
        (lambda: DirectAULoss(gamma=-1), "gamma"),
    ],
)
def test_bad_loss_options(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(("m", "logq"), [(None, False), (3, False), (1, False), (None, True)])
def test_softmax_matches_the_dense_masked_formula_with_duplicates(m, logq):
    """The sort-based masking and the log-add of two blocks give the loss and the
    gradients of the plain formula: cat([pos, negs, in-batch masked by -inf]) / tau."""
    gen = torch.Generator().manual_seed(0)
    users = torch.arange(8)
    pos = torch.tensor([3, 1, 3, 2, 3, 1, 5, 2])  # repeated items, in and beyond the first m
    neg = torch.randint(0, 9, (8, 2), generator=gen)
    u = torch.randn(8, 4, generator=gen, requires_grad=True)
    p = torch.randn(8, 4, generator=gen, requires_grad=True)
    n = torch.randn(8, 2, 4, generator=gen, requires_grad=True)
    loss = SoftmaxLoss(temperature=0.3, in_batch_negatives=m, logq=logq)
    got = loss(LossInput(users=users, pos=pos, neg=neg, user_emb=u, pos_emb=p, neg_emb=n))
    got["softmax"].backward()
    grads = [t.grad.clone() for t in (u, p, n)]
    for t in (u, p, n):
        t.grad = None
    un, pn, nn_ = (torch.nn.functional.normalize(t, dim=-1) for t in (u, p, n))
    cols = m or 8
    same = pos[:, None] == pos[None, :cols]
    in_batch = (un @ pn[:cols].T) / 0.3
    if logq:  # minus log(how many of the batch's pairs have column j's item)
        in_batch = in_batch - same.sum(0).float().log()
    own = torch.cat([(un * pn).sum(-1, keepdim=True), (un[:, None] * nn_).sum(-1)], 1) / 0.3
    logits = torch.cat([own, in_batch.masked_fill(same, float("-inf"))], 1)
    want = (torch.logsumexp(logits, 1) - logits[:, 0]).mean()
    want.backward()
    assert got["softmax"].item() == pytest.approx(want.item(), rel=1e-5)
    for g, t in zip(grads, (u, p, n), strict=True):
        assert torch.allclose(g, t.grad, atol=1e-6)


def test_softmax_logq_discounts_items_drawn_often():
    # positives 5, 5, 7 (tau 1, orthogonal unit vectors): every row's own logit is 1.
    # Rows 0, 1 (item 5): both item-5 columns are their own item and masked; item 7's
    # column scores 0 and was drawn once (log 1 = 0): loss log(e + 1) - 1 each.
    # Row 2 (item 7): the two item-5 columns score 0 - log 2 each: e + 1/2 + 1/2,
    # so log(e + 1) - 1 as well. Without logq row 2 has log(e + 2) - 1.
    b = batch([0, 1, 2], [5, 5, 7], [], [[1, 0], [1, 0], [0, 1]], [[1, 0], [1, 0], [0, 1]], [])
    corrected = SoftmaxLoss(temperature=1.0, logq=True)(b)["softmax"].item()
    assert corrected == pytest.approx(softplus(-1.0), abs=1e-6)
    plain = SoftmaxLoss(temperature=1.0)(b)["softmax"].item()
    assert plain == pytest.approx((2 * softplus(-1.0) + softplus(math.log(2) - 1.0)) / 3, abs=1e-6)
