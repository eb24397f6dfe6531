"""Image generators and discriminators: DCGAN (Radford et al. 2016) for 28, 32 and 64 px, and the
SNGAN ResNet pair for 32 px (Miyato et al. 2018, the CIFAR-10 architecture of its appendix).

Generators map z (n, z_dim) to images (n, channels, size, size) in [-1, 1]; discriminators map images
to one logit each (n,). Weight initialisation (`train.init`) and spectral normalisation
(`train.spectral_norm`) are applied by the trainer core to whatever these modules contain.
"""

from __future__ import annotations

import math

from torch import Tensor, nn
from torch.nn import functional as F

from textgan.errors import UserError

DCGAN_SIZES = (28, 32, 64)
SNGAN_SIZES = (32,)


def _dcgan_plan(size: int) -> tuple[int, int]:
    """(side of the first feature map, number of stride-2 layers): 28 = 7·2², 32 = 4·2³, 64 = 4·2⁴."""
    if size not in DCGAN_SIZES:
        raise UserError(f"the DCGAN models take images of {', '.join(map(str, DCGAN_SIZES))} px; got {size}")
    base = 7 if size == 28 else 4
    return base, int(math.log2(size // base))


class DCGANGenerator(nn.Module):
    """Fractionally-strided convolutions with batch norm and ReLU, tanh output (the DCGAN paper).
    Widths halve from `channels`·2^(n-1) at the first map to `channels` before the output layer."""

    def __init__(self, z_dim: int, size: int, out_channels: int, channels: int = 64) -> None:
        super().__init__()
        base, n_up = _dcgan_plan(size)
        width = channels * 2 ** (n_up - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, width, base, 1, 0, bias=False), nn.BatchNorm2d(width), nn.ReLU(True)
        ]
        for _ in range(n_up - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, out_channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """Strided convolutions with LeakyReLU(0.2), batch norm on all but the first layer, and a last
    convolution over the final map giving one logit (the DCGAN paper)."""

    def __init__(self, size: int, in_channels: int, channels: int = 64) -> None:
        super().__init__()
        base, n_down = _dcgan_plan(size)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = channels
        for _ in range(n_down - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2),
                       nn.LeakyReLU(0.2, True)]
            width *= 2
        layers.append(nn.Conv2d(width, 1, base, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).reshape(-1)


class _GBlock(nn.Module):
    """SNGAN generator block: BN-ReLU-upsample-conv3-BN-ReLU-conv3, plus an upsampled 1×1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_out, 3, 1, 1), nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class _DBlock(nn.Module):
    """SNGAN discriminator block: (ReLU)-conv3-ReLU-conv3-(avgpool), plus a 1×1 shortcut; the first
    block (`first`) has no leading ReLU and pools before its shortcut convolution."""

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool = False) -> None:
        super().__init__()
        self.down, self.first = down, first
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_out, 3, 1, 1), nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1) if (down or c_in != c_out) else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.shortcut is not None:
            if self.first:
                s = self.shortcut(F.avg_pool2d(s, 2))
            else:
                s = self.shortcut(s)
                s = F.avg_pool2d(s, 2) if self.down else s
        return h + s


class SNGANGenerator(nn.Module):
    """z -> linear 4×4×`channels` -> three up-sampling residual blocks -> BN-ReLU-conv3-tanh (32 px)."""

    def __init__(self, z_dim: int, size: int, out_channels: int, channels: int = 256) -> None:
        super().__init__()
        if size not in SNGAN_SIZES:
            raise UserError(f"the SNGAN ResNet models take {SNGAN_SIZES[0]} px images; got {size}")
        self.channels = channels
        self.linear = nn.Linear(z_dim, 4 * 4 * channels)
        self.blocks = nn.Sequential(*(_GBlock(channels, channels) for _ in range(3)))
        self.out = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(),
                                 nn.Conv2d(channels, out_channels, 3, 1, 1), nn.Tanh())

    def forward(self, z: Tensor) -> Tensor:
        return self.out(self.blocks(self.linear(z).view(-1, self.channels, 4, 4)))


class SNGANDiscriminator(nn.Module):
    """Two down-sampling residual blocks and two plain ones, ReLU, global sum pooling, linear (32 px).
    Spectral norm comes from `train.spectral_norm: true`, as in the paper."""

    def __init__(self, size: int, in_channels: int, channels: int = 128) -> None:
        super().__init__()
        if size not in SNGAN_SIZES:
            raise UserError(f"the SNGAN ResNet models take {SNGAN_SIZES[0]} px images; got {size}")
        self.blocks = nn.Sequential(
            _DBlock(in_channels, channels, down=True, first=True),
            _DBlock(channels, channels, down=True),
            _DBlock(channels, channels, down=False),
            _DBlock(channels, channels, down=False),
        )
        self.linear = nn.Linear(channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(F.relu(self.blocks(x)).sum(dim=(2, 3))).reshape(-1)


ARCHITECTURES = {"dcgan": (DCGANGenerator, DCGANDiscriminator), "sngan": (SNGANGenerator, SNGANDiscriminator)}


def build_models(arch: str, z_dim: int, size: int, channels: int,
                 g_channels: int, d_channels: int) -> tuple[nn.Module, nn.Module]:
    """The (generator, discriminator) pair of architecture `arch` for `channels`×`size`×`size` images."""
    gen_cls, disc_cls = ARCHITECTURES[arch]
    return gen_cls(z_dim, size, channels, g_channels), disc_cls(size, channels, d_channels)
