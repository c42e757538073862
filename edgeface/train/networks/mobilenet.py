"""MobileNetV2 (Sandler et al. 2018) in plain torch, ReLU6 only: INT8 hard-swish is slow in TFLite."""

from __future__ import annotations

from torch import nn

from . import register


def _divisible(v: float, by: int = 8) -> int:
    return max(by, int(v + by / 2) // by * by)


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers = [conv_bn(cin, hidden, 1)] if expand != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, cout, 1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV2(nn.Module):
    # (expansion, channels, repeats, first stride)
    STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, width: float = 1.0, last_channels: int = 512):
        super().__init__()
        c = _divisible(32 * width)
        layers = [conv_bn(3, c, 3, 2)]
        for t, ch, n, s in self.STAGES:
            out = _divisible(ch * width)
            for i in range(n):
                layers.append(InvertedResidual(c, out, s if i == 0 else 1, t))
                c = out
        # The last 1x1 layer is kept lean: its width times the heads' outputs dominates the cost.
        layers.append(conv_bn(c, last_channels, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = last_channels
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x, tap: int | None = None):
        """Pooled features; with `tap`, also the output of the first `tap` layers (an early branch's
        input), both from one pass through this module, so exported graphs name its layers under it."""
        if tap is None:
            return self.pool(self.features(x)).flatten(1)
        for i, layer in enumerate(self.features):
            if i == tap:
                tapped = x
            x = layer(x)
        return self.pool(x).flatten(1), tapped


@register
def mobilenetv2_050(**kwargs):
    return MobileNetV2(width=0.5, **kwargs)


@register
def mobilenetv2_075(**kwargs):
    return MobileNetV2(width=0.75, **kwargs)


@register
def mobilenetv2_100(**kwargs):
    return MobileNetV2(width=1.0, **kwargs)
