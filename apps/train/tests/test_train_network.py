"""The shared network: absent modalities never reach the features; sequence padding is ignored."""

import torch

from mce_train.benchmarks.avmnist import models as avmnist
from mce_train.benchmarks.iemocap import models as iemocap
from mce_train.network import MultiModalNet


def _avmnist_net() -> MultiModalNet:
    torch.manual_seed(0)
    return MultiModalNet(avmnist.MODALITIES, avmnist.encoders(16), avmnist.head(16, 32), avmnist.unimodal_heads(16, 32))


def test_absent_modalities_are_zero_and_do_not_leak() -> None:
    net = _avmnist_net().eval()
    inputs = {"image": torch.rand(4, 1, 28, 28), "audio": torch.randn(4, 1, 20, 20)}
    present = torch.tensor([[True, True], [True, False], [False, True], [True, True]])
    h = net.encode(inputs, present)
    assert h.shape == (4, 2, 16)
    assert torch.all(h[~present] == 0)
    poisoned = {"image": inputs["image"].clone(), "audio": inputs["audio"].clone()}
    poisoned["audio"][1] = 1e6
    poisoned["image"][2] = float("nan")
    assert torch.equal(net(poisoned, present), net(inputs, present))


def test_encoding_a_row_does_not_depend_on_the_other_rows() -> None:
    net = _avmnist_net().eval()
    inputs = {"image": torch.rand(3, 1, 28, 28), "audio": torch.randn(3, 1, 20, 20)}
    present = torch.ones(3, 2, dtype=torch.bool)
    alone = net.encode({k: v[:1] for k, v in inputs.items()}, present[:1])
    torch.testing.assert_close(net.encode(inputs, present)[:1], alone)


def test_sequence_encoders_ignore_padding() -> None:
    torch.manual_seed(0)
    sizes = {"acoustic": 5, "visual": 6, "lexical": 7}
    for name, encoder in iemocap.encoders(8, sizes).items():
        features = sizes[name]
        short = torch.randn(1, 4, features)
        padded = torch.cat([short, torch.randn(1, 3, features) * 100], 1)
        torch.testing.assert_close(encoder(padded, torch.tensor([4])), encoder(short, torch.tensor([4])))


def test_iemocap_network_shapes() -> None:
    torch.manual_seed(0)
    dims = {"acoustic": 5, "visual": 6, "lexical": 7}
    net = MultiModalNet(
        iemocap.MODALITIES, iemocap.encoders(8, dims), iemocap.head(8, 16), iemocap.unimodal_heads(8, 16)
    )
    inputs = {name: torch.randn(3, 9, d) for name, d in dims.items()}
    lengths = {name: torch.tensor([9, 4, 1]) for name in dims}
    present = torch.tensor([[True, False, True], [False, True, False], [True, True, True]])
    assert net(inputs, present, lengths).shape == (3, 4)
