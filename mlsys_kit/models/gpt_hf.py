"""Load a Hugging Face GPT-2 state dict (``transformers`` key names) into :class:`GPT`.

A user who has the real GPT-2 weights (``model.safetensors`` or ``pytorch_model.bin``)
gets real text out of the same model the serving topics run. Nothing is downloaded:
you pass a file you already have, or a state dict.

Hugging Face's GPT-2 stores its projections as ``Conv1D`` whose weight is ``[in, out]``,
the transpose of ``nn.Linear``'s ``[out, in]``; we transpose those four matrices per block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch

from mlsys_kit.models.gpt import GPT, PRESETS, GPTConfig

_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
_IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers of old checkpoints


def _strip(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ``transformer.`` prefix (GPT2LMHeadModel) and the mask buffers."""
    out = {}
    for key, value in state.items():
        if key.endswith(_IGNORED_SUFFIXES) or key == "lm_head.weight":
            continue  # lm_head is tied to wte
        out[key.removeprefix("transformer.")] = value
    return out


def config_from_hf_state_dict(state: Mapping[str, torch.Tensor], n_head: int | None = None) -> GPTConfig:
    """Infer a GPTConfig from tensor shapes; ``n_head`` is not visible in shapes, so it comes
    from the argument or from the preset with the same width (768 -> 12 heads as GPT-2 small)."""
    sd = _strip(state)
    for key in ("wte.weight", "wpe.weight"):
        if key not in sd:
            raise ValueError(f"not a GPT-2 state dict: missing {key!r} (transformers key names expected)")
    vocab, n_embd = sd["wte.weight"].shape
    n_positions = sd["wpe.weight"].shape[0]
    n_layer = len({k.split(".")[1] for k in sd if k.startswith("h.")})
    if n_head is None:
        widths = {c.n_embd: c.n_head for c in PRESETS.values()}
        if n_embd not in widths:
            raise ValueError(f"cannot infer n_head for n_embd={n_embd}: pass n_head explicitly")
        n_head = widths[n_embd]
    return GPTConfig(vocab_size=int(vocab), n_positions=int(n_positions), n_layer=n_layer,
                     n_head=n_head, n_embd=int(n_embd))


def convert_hf_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The HF GPT-2 state dict renamed and transposed for :class:`GPT`."""
    sd = _strip(state)
    return {k: (v.t().contiguous() if k.endswith(_CONV1D) else v) for k, v in sd.items()}


def gpt_from_hf_state_dict(state: Mapping[str, torch.Tensor], n_head: int | None = None) -> GPT:
    """A :class:`GPT` holding the weights of a Hugging Face GPT-2 state dict (strict: every
    parameter must be present and no unknown key is allowed)."""
    model = GPT(config_from_hf_state_dict(state, n_head=n_head))
    missing, unexpected = model.load_state_dict(convert_hf_state_dict(state), strict=False)
    if missing or unexpected:
        raise ValueError(f"state dict does not match the GPT-2 layout: missing {missing}, unexpected {unexpected}")
    return model.eval()


def load_hf_gpt2(path: str | Path, n_head: int | None = None) -> GPT:
    """Load GPT-2 weights from a ``.safetensors`` or ``.bin`` file you already have."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights file not found: {str(path)!r}")
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file
        except ImportError:  # pragma: no cover - safetensors ships with the test extra
            raise ValueError("reading .safetensors needs the safetensors package: pip install safetensors") from None
        state = load_file(str(path))
    elif path.suffix in (".bin", ".pt", ".pth"):
        state = torch.load(path, map_location="cpu", weights_only=True)
    else:
        raise ValueError(f"weights file must end in .safetensors, .bin, .pt or .pth: got {path.name!r}")
    return gpt_from_hf_state_dict(state, n_head=n_head)
