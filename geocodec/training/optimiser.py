"""What the training loop optimises, and with what: the parameter lists in checkpoint order, the
encoder-side subset and the entropy-model subset, and the optimiser chosen by name (Adam, or SOAP for the equal-time comparison)."""

from __future__ import annotations

import torch


OPTIMISERS = ("adam", "soap")


def make_optimiser(name: str, params: list, lr: float) -> torch.optim.Optimizer:
    """The main parameters' optimiser, by name (the entropy bottleneck's quantiles always use Adam)."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name != "soap":
        from geocodec.errors import InvalidInputError

        raise InvalidInputError(f"optimizer must be one of {OPTIMISERS}, not {name!r}")
    try:
        from pytorch_optimizer import SOAP
    except ImportError:
        from geocodec.errors import InvalidInputError

        raise InvalidInputError("optimizer='soap' needs pytorch-optimizer: pip install pytorch-optimizer") from None
    # Adam's betas and no weight decay, so the two differ only in SOAP's rotated basis
    return SOAP(params, lr=lr, betas=(0.9, 0.999), weight_decay=0.0, precondition_frequency=10)


def optimiser_parameters(model: torch.nn.Module) -> tuple[list, list]:
    """(main, aux) parameters in saved-key (``state_dict``) order, which module refactors keep:
    checkpoints number their Adam moments by it. ``named_parameters()`` follows the module tree."""
    named = [(k, v) for k, v in model.state_dict(keep_vars=True).items() if isinstance(v, torch.nn.Parameter)]
    return [p for n, p in named if not n.endswith("quantiles")], [p for n, p in named if n.endswith("quantiles")]


#: Parameters only the encoder uses: changing them changes which latent is coded, never how a
#: bitstream decodes (the decoders and every table they share with the encoder stay fixed).
ENCODER_SIDE = ("encoder.", "encoder_gain.", "entropy.h_a.")


#: The entropy model (hyper-analysis and -synthesis, context and parameter nets, the hyper-latent's
#: factorised prior): what ``train_only="entropy"`` trains, on the rate alone, for fixed transforms.
ENTROPY_SIDE = ("entropy.",)


def trainable_subset(model: torch.nn.Module, params: list, prefixes: tuple[str, ...]) -> list:
    """Those of ``params`` (saved-key order kept) whose names start with ``prefixes``; the rest are frozen."""
    names = {id(v): k for k, v in model.state_dict(keep_vars=True).items()}
    keep = [p for p in params if names[id(p)].startswith(prefixes)]
    kept = {id(p) for p in keep}
    for p in params:
        p.requires_grad_(id(p) in kept)
    return keep


def encoder_side(model: torch.nn.Module, params: list) -> list:
    """Those of ``params`` that only the encoder uses (``ENCODER_SIDE``); the rest are frozen."""
    return trainable_subset(model, params, ENCODER_SIDE)
