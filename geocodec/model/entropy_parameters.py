"""Where a coding stage's entropy parameters come from, per bitstream format: the float64 nets of
formats 1–2 (close across machines, not exact) or the exact integer nets of formats 3 and 4. Both give
``geocodec.model.latent_coding.LatentCoder``'s one stage walker the same interface, so encoding
and decoding share it for every format."""

from __future__ import annotations

import torch

from geocodec.model.integer_nets import FRAC_BITS, from_fixed

_ONE = float(2 ** FRAC_BITS)


class FloatParameters:
    """Formats 1–2: the parameter nets in a float64 copy on the model's device (close across
    machines, not exact; the per-stage checks catch a mismatch)."""

    def __init__(self, coder, device=None):
        self.nets = coder._coding()
        self.coder = coder
        self.device = device

    def move(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def hyper(self, z_sym: torch.Tensor, hw) -> torch.Tensor:
        med = self.coder._z_medians()
        z_hat = z_sym.to(med.device).type_as(med) + med
        if self.device is not None:
            z_hat = z_hat.to(self.device)
        return self.nets["h_s"](z_hat.double())[..., :hw[0], :hw[1]]

    def side(self, k: int, hyper: torch.Tensor, y_hats: list[torch.Tensor]) -> torch.Tensor:
        return type(self.coder)._side_params(self.nets["y"], k, hyper, y_hats)

    def stage(self, k, side, y_hat_k, positions):
        cb = self.nets["y"].latent_codec[f"y{k}"]
        n, _, h, w = side.shape
        g = self.nets["y"].groups[k]
        spatial = side.new_zeros(n, 2 * g, h, w) if y_hat_k is None else cb.context_prediction(y_hat_k)
        mu, s = type(self.coder)._gaussian_params(cb, side, spatial)
        return mu.flatten(2)[..., positions], self.coder._indexes(s).flatten(2)[..., positions]

    @staticmethod
    def symbols(y: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        return torch.round(y - mu)

    @staticmethod
    def y_hat(sym: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        return sym + mu

    @staticmethod
    def latent(y_hat: torch.Tensor) -> torch.Tensor:
        return y_hat.float()


class IntegerParameters:
    """Formats 3–4: the exact nets of ``geocodec.model.integer_nets`` (float64 GEMMs) or
    ``geocodec.model.int8_nets`` (int8 products), always on the CPU (their exactness arguments are
    about CPU kernels; a GPU library may pick FFT or Winograd kernels)."""

    def __init__(self, coder, nets):
        self.nets = nets
        self.coder = coder
        self._hyper_sides = (None, None)  # (the hyper-synthesis output, nets.hyper_sides of it)

    @staticmethod
    def move(y: torch.Tensor) -> torch.Tensor:
        return y.cpu()

    def hyper(self, z_sym: torch.Tensor, hw) -> torch.Tensor:
        one = float(2 ** self.nets.INPUT_FRAC)  # ẑ in the nets' input fixed point
        med = torch.round(self.coder._z_medians().cpu().double() * one)
        return self.nets.hyper(z_sym.double() * one + med, hw)

    def side(self, k, hyper, y_hats):
        if self._hyper_sides[0] is not hyper:  # every group's hyper terms in one product, once per walk
            self._hyper_sides = (hyper, self.nets.hyper_sides(hyper))
        return self.nets.side(k, hyper, y_hats, self._hyper_sides[1][k])

    def stage(self, k, side, y_hat_k, positions):
        return self.nets.stage(k, side, y_hat_k, positions)

    @staticmethod
    def symbols(y: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        return torch.round(y - mu * (1.0 / _ONE))

    @staticmethod
    def y_hat(sym: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        return sym * _ONE + mu

    @staticmethod
    def latent(y_hat: torch.Tensor) -> torch.Tensor:
        return from_fixed(y_hat)
