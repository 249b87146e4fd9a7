"""SASRec-style sequence encoder, SASRec and SeqLightGCN (gnnrec/models/sequential.py)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gnnrec.data.split import temporal_split
from gnnrec.graph.build import TrainLog, build_graph
from gnnrec.losses.bpr import BPRLoss
from gnnrec.models.sequential import (
    SASRec,
    SeqLightGCN,
    SequenceEncoder,
    interaction_keys,
    next_item_loss,
    sequence_fusion,
    user_sequences,
)
from gnnrec.sampling import TrainingPairs
from gnnrec.sampling.uniform import UniformSampler
from gnnrec.train.loop import Trainer
from tests.test_cli_train import gnnrec_train, run_dirs


def hand_log() -> TrainLog:
    """User 0: items 5, 3, 7 at times 30, 10, 20 (rows shuffled); user 2: items 1, 4 both
    at time 5 (a tie: row order decides); user 1 has no train item."""
    users = torch.tensor([2, 0, 0, 2, 0])
    items = torch.tensor([1, 5, 3, 4, 7])
    times = torch.tensor([5.0, 30.0, 10.0, 5.0, 20.0], dtype=torch.float64)
    return TrainLog(users=users, items=items, timestamps=times)


def test_sequences_are_in_time_order_and_right_padded():
    sequences, lengths = user_sequences(hand_log(), num_users=3, max_len=10)
    # user 0 by time: 3 (t=10), 7 (t=20), 5 (t=30); user 2: 1 then 4 (tie, row order)
    assert sequences.tolist() == [[3, 7, 5], [0, 0, 0], [1, 4, 0]]
    assert lengths.tolist() == [3, 0, 2]


def test_max_len_keeps_the_most_recent_items():
    sequences, lengths = user_sequences(hand_log(), num_users=3, max_len=2)
    assert sequences.tolist() == [[7, 5], [0, 0], [1, 4]]  # user 0's oldest (3) dropped
    assert lengths.tolist() == [2, 0, 2]


def test_interaction_keys_are_sorted_user_item_codes():
    # num_items 8: key = 8 * user + item
    assert interaction_keys(hand_log(), 8).tolist() == [3, 5, 7, 17, 20]


def encoder(blocks: int = 2, heads: int = 2) -> SequenceEncoder:
    torch.manual_seed(0)
    return SequenceEncoder(embedding_dim=8, max_len=10, num_blocks=blocks, heads=heads).eval()


def test_a_position_never_sees_later_items():
    enc = encoder()
    x = torch.randn(2, 6, 8)
    lengths = torch.tensor([6, 6])
    before = enc(x, lengths)
    changed = x.clone()
    changed[:, 4] = torch.randn(2, 8)  # the item at position t + 1 = 4
    after = enc(changed, lengths)
    assert torch.equal(before[:, :4], after[:, :4])  # positions <= t: bit-identical
    assert not torch.allclose(before[:, 4], after[:, 4])
    assert not torch.allclose(before[:, 5], after[:, 5])  # later positions do see it


def test_padding_changes_no_state_of_the_user():
    enc = encoder()
    x = torch.randn(1, 3, 8)
    alone = enc(x, torch.tensor([3]))
    # the same user in a batch padded to 7 positions, with garbage in its padding
    padded = torch.cat([x, 100 * torch.randn(1, 4, 8)], dim=1)
    other = torch.randn(1, 7, 8)
    batch = enc(torch.cat([padded, other]), torch.tensor([3, 7]))
    torch.testing.assert_close(batch[0, :3], alone[0], rtol=1e-6, atol=1e-6)
    assert torch.equal(batch[0, 3:], torch.zeros(4, 8))  # padded states are 0


def test_positions_count_from_the_first_kept_item():
    enc = encoder()
    x = torch.randn(1, 2, 8)
    h = enc(x, torch.tensor([2]))
    with torch.no_grad():
        enc.position.weight[3:] += torch.randn(8, 8)  # rows past the sequence: unused
    assert torch.equal(enc(x, torch.tensor([2])), h)
    with torch.no_grad():
        enc.position.weight[1] += torch.randn(8)  # p_1: the first item's position
    assert not torch.allclose(enc(x, torch.tensor([2]))[0, 0], h[0, 0])


def test_next_item_loss_by_hand():
    # one user, sequence [0, 1]; 3 items, the user has trained on 0 and 1
    states = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    items = torch.tensor([[0.0, 0.0], [2.0, 0.0], [-1.0, 0.5]])
    inputs = items[[0, 1]].unsqueeze(0)
    keys = torch.tensor([0, 1])
    loss = next_item_loss(states, inputs, torch.tensor([2]), items, keys, 50, _gen())
    drawn = torch.randint(3, (1, 1, 50), generator=_gen())
    fresh = int((drawn == 2).sum())  # draws of items 0 and 1 are the user's: left out
    assert 0 < fresh < 50
    # one position with a next item: h_0 = (1, 0), positive m_1 = (2, 0) -> logit 2;
    # each fresh negative m_2 = (-1, .5) -> logit -1: -log sig(2) - fresh * log(1 - sig(-1))
    expected = -math.log(1 / (1 + math.exp(-2))) - fresh * math.log(1 - 1 / (1 + math.exp(1)))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(3)


def sasrec(max_len: int = 10) -> SASRec:
    sequences, lengths = user_sequences(hand_log(), 3, max_len)
    torch.manual_seed(0)
    return SASRec(
        sequences,
        lengths,
        interaction_keys(hand_log(), 8),
        num_items=8,
        embedding_dim=8,
        max_len=max_len,
        heads=2,
        dropout=0.0,
    )


def test_sasrec_user_is_the_state_after_the_whole_history_in_evaluation():
    model = sasrec().eval()
    users, items = model()
    states = model.encoder(items[model.sequences], model.lengths)
    assert torch.equal(users[0], states[0, 2])  # user 0: 3 items -> position 2
    assert torch.equal(users[2], states[2, 1])
    assert torch.equal(users[1], torch.zeros(8))  # no history: scores 0
    assert items is model.item_emb.weight


def test_sasrec_training_state_cannot_see_the_weighted_pair():
    model = sasrec().train()
    users, _ = model()
    weights = model.pair_weights(torch.tensor([0, 0, 0, 2, 2]), torch.tensor([3, 7, 5, 1, 4]))
    # only (user, last train item) pairs weigh: user 0's item 5, user 2's item 4; 5 log rows,
    # 2 of them such pairs -> weight 5 / 2 each, so the weights average 1 over the log
    assert weights.tolist() == [0.0, 0.0, 2.5, 0.0, 2.5]
    # the training state of user 0 is the state after 3, 7: changing the last item 5 leaves it
    with torch.no_grad():
        model.item_emb.weight[5] += 1.0
    again, _ = model()
    assert torch.equal(users, again)
    model.eval()
    with torch.no_grad():
        evaluated, _ = model()
        model.item_emb.weight[5] -= 1.0
        assert not torch.equal(evaluated[0], model()[0][0])  # evaluation reads item 5


def test_sasrec_checks_its_hyper_parameters():
    sequences, lengths = user_sequences(hand_log(), 3, 10)
    keys = interaction_keys(hand_log(), 8)
    with pytest.raises(ValueError, match="max_len must be an integer >= 2"):
        SASRec(sequences, lengths, keys, 8, max_len=1)
    with pytest.raises(ValueError, match="not divisible by heads"):
        SASRec(sequences, lengths, keys, 8, embedding_dim=8, heads=3)
    with pytest.raises(ValueError, match="seq_weight"):
        SASRec(sequences, lengths, keys, 8, seq_weight=-1)


@pytest.mark.parametrize("fusion", ["sum", "gate", "concat"])
def test_fusion_modes_shapes_and_gradients(fusion, tiny_dataset):
    split = temporal_split(tiny_dataset)
    graph = build_graph(split)
    torch.manual_seed(0)
    model = SeqLightGCN.from_graph(graph, fusion=fusion, embedding_dim=8, num_layers=2, heads=2)
    model.train()
    users, items = model()
    assert users.shape == (4, 8) and items.shape == (8, 8)
    pairs = TrainingPairs.from_split(split)
    gen = torch.Generator().manual_seed(0)
    terms = Trainer(progress=False).step_terms(
        model, BPRLoss(), UniformSampler(pairs), pairs.users, pairs.items, gen
    )
    assert set(terms) == {"loss", "bpr", "reg", "next_item"}
    terms["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


def test_fusions_by_hand():
    e, s = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, -1.0]])
    assert sequence_fusion("sum", 2)(e, s).tolist() == [[4.0, 1.0]]
    gate = sequence_fusion("gate", 2)
    with torch.no_grad():
        gate.gate.weight.zero_()
        gate.gate.bias.fill_(0.0)  # g = 1/2: the mean of the two
    assert gate(e, s).tolist() == [[2.0, 0.5]]
    concat = sequence_fusion("concat", 2)
    with torch.no_grad():
        concat.project.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 1.0]]))
        concat.project.bias.zero_()
    assert concat(e, s).tolist() == [[1.0, -1.0]]  # (e_1, s_2)
    with pytest.raises(ValueError, match="fusion must be one of sum, gate, concat"):
        sequence_fusion("max", 2)


def test_seqgcn_reads_lightgcn_item_embeddings(tiny_dataset):
    """sum fusion: LightGCN's user vector plus the state after the history, read in
    LightGCN's (propagated) item embeddings, which also score."""
    graph = build_graph(temporal_split(tiny_dataset))
    torch.manual_seed(0)
    model = SeqLightGCN.from_graph(graph, fusion="sum", embedding_dim=4).eval()
    with torch.no_grad():
        users, items = model()
        graph_users, graph_items = model.backbone()
        states = model.encoder(graph_items[model.sequences], model.lengths)
    last = model.lengths - 1
    assert torch.equal(items, graph_items)
    torch.testing.assert_close(users, graph_users + states[torch.arange(4), last])


@pytest.mark.slow
def test_sasrec_trains_from_gnnrec_train(tmp_path):
    """One epoch on the bundled ml-100k; numbers are reported, not asserted."""
    gnnrec_train(
        "model=sasrec",
        "train.epochs=1",
        "logger=none",
        "train.progress=false",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    (run,) = run_dirs(tmp_path)
    results = json.loads((run / "results.json").read_text())
    assert results["model"] == "sasrec"
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert math.isfinite(row["train/next_item"]) and "train/bpr" in row
