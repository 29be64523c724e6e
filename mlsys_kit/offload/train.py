"""The tiny GPT trained for a few seconds on the text the package ships, so that its attention
has structure for InfiniGen's speculation to find (Lee et al., OSDI'24, section 3: attention in a
trained model is concentrated on a few tokens; a model with random weights attends almost
uniformly and no guess can beat a random one).

Character-level (byte) tokens of :data:`mlsys_kit.offload.corpus.TEXT`; the first
:data:`TRAIN_SHARE` of the text is the training set, the rest is held out for evaluation. Seeded
AdamW on random windows; the weights are cached in ``$MLSYS_KIT_CACHE`` (default
``~/.cache/mlsys-kit``) under a name that hashes the config, steps, seed and text, written
atomically so parallel test workers never read half a file.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F

from mlsys_kit.checks import nonneg_int, positive_int
from mlsys_kit.models.gpt import GPT, GPTConfig
from mlsys_kit.offload.corpus import TEXT

# The trained model's shape: byte vocabulary, 4 layers of 4 heads (head_dim 16); about 20 s of
# training on one CPU core reaches a held-out loss near 2.7 nats (ln 128 = 4.85 untrained).
TRAINED = GPTConfig(vocab_size=128, n_positions=256, n_layer=4, n_head=4, n_embd=64)
TRAIN_SHARE = 0.85
STEPS, BATCH, CONTEXT, LR = 300, 8, 64, 3e-3


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one CPU thread inside the block: the tiny model's matrices are too small to
    share, and on a busy machine a second thread that waits for a core costs seconds per call."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def encode(text: str) -> list[int]:
    """Byte ids of an ASCII text (ValueError on a character outside 0..127)."""
    bad = sorted({c for c in text if ord(c) > 127})
    if bad:
        raise ValueError(f"text must be ASCII (byte ids 0..127): got {''.join(bad[:5])!r}")
    return [ord(c) for c in text]


def decode(ids: list[int]) -> str:
    return "".join(chr(i) for i in ids)


def split_ids() -> tuple[torch.Tensor, torch.Tensor]:
    """(training ids, held-out ids) of the shipped text."""
    ids = torch.tensor(encode(TEXT), dtype=torch.long)
    cut = int(len(ids) * TRAIN_SHARE)
    return ids[:cut], ids[cut:]


def cache_dir() -> Path:
    return Path(os.environ.get("MLSYS_KIT_CACHE") or Path.home() / ".cache" / "mlsys-kit")


def _key(cfg: GPTConfig, steps: int, seed: int) -> str:
    h = hashlib.sha256(f"{cfg}|{steps}|{seed}|{BATCH}|{CONTEXT}|{LR}|{TRAIN_SHARE}|{TEXT}".encode()).hexdigest()
    return f"offload-gpt-{h[:16]}.pt"


def model_file(steps: int = STEPS, seed: int = 0) -> str:
    """The cache file name of the trained weights (it changes with the text, the config and the recipe)."""
    return _key(TRAINED, steps, seed)


def train(steps: int = STEPS, seed: int = 0, cfg: GPTConfig = TRAINED) -> GPT:
    """Train a fresh GPT (seeded) on the training share for ``steps`` AdamW steps; returns it in eval mode."""
    nonneg_int("steps", steps)
    nonneg_int("seed", seed)
    train_ids, _ = split_ids()
    model = GPT(cfg, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.0)
    model.train()
    with one_thread():
        _steps(model, opt, train_ids, gen, steps, cfg)
    model.eval()
    return model


def _steps(model: GPT, opt: torch.optim.Optimizer, train_ids: torch.Tensor, gen: torch.Generator, steps: int,
           cfg: GPTConfig) -> None:
    for _ in range(steps):
        starts = torch.randint(0, len(train_ids) - CONTEXT - 1, (BATCH,), generator=gen)
        x = torch.stack([train_ids[s:s + CONTEXT] for s in starts.tolist()])
        y = torch.stack([train_ids[s + 1:s + CONTEXT + 1] for s in starts.tolist()])
        loss = F.cross_entropy(model(x).reshape(-1, cfg.vocab_size), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def trained_gpt(steps: int = STEPS, seed: int = 0) -> GPT:
    """The trained tiny GPT, from the cache when it is there (trains and caches it otherwise)."""
    positive_int("steps", steps)
    path = cache_dir() / _key(TRAINED, steps, seed)
    model = GPT(TRAINED, seed=seed)
    if path.exists():
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model
    model = train(steps, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    return model


@torch.no_grad()
def held_out_loss(model: GPT) -> float:
    """Mean next-byte cross-entropy (nats) on the held-out share: a trained model is far below ln(128) = 4.85."""
    _, held = split_ids()
    ids = held[:2 * CONTEXT + 1]
    return float(F.cross_entropy(model(ids[None, :-1])[0], ids[1:]))


def calibration_ids(windows: int = 4) -> torch.Tensor:
    """``windows`` windows [windows, n_positions] of the training share: InfiniGen's offline
    calibration text (skewing, section 4.2)."""
    train_ids, _ = split_ids()
    n = TRAINED.n_positions
    if not 1 <= positive_int("windows", windows) * n <= len(train_ids):
        raise ValueError(f"windows must be in 1..{len(train_ids) // n}: got {windows}")
    return train_ids[:windows * n].reshape(windows, n)


def eval_ids(length: int = 192) -> torch.Tensor:
    """The first ``length`` ids of the held-out share (the text InfiniGen's accuracy is measured on)."""
    _, held = split_ids()
    if not 2 <= positive_int("length", length) <= min(len(held), TRAINED.n_positions):
        raise ValueError(f"length must be in 2..{min(len(held), TRAINED.n_positions)}: got {length}")
    return held[:length]
