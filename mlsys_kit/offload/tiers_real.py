"""Three real memory tiers for the offloaded run of the tiny GPT: a byte-budgeted "device" (the
GPU when there is one, else CPU tensors that stand for it), host tensors, and a disk of numpy
memory-mapped files in a temporary directory (FlexGen, Sheng et al., ICML'23, section 3: the
device / CPU / disk hierarchy).

Every copy between tiers goes through :meth:`Tiers.load` (disk -> host -> device) or
:meth:`Tiers.store` (device -> host -> disk), which count the bytes of the tensors they really
copy on FlexGen's four links (``cost.LINKS``); the counters are what ``real.py`` compares with
the cost model. The device tier refuses an allocation past its capacity (a policy that does not
fit fails loudly rather than quietly using more memory) and records its peak.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import numpy as np
import torch

from mlsys_kit import checks
from mlsys_kit.offload.cost import LINKS


class Tiers:
    """A device of ``capacity_bytes``, the host, and a disk under a temporary directory.
    Use as a context manager (the directory is removed at exit)."""

    def __init__(self, capacity_bytes: float, device: str | torch.device = "cpu") -> None:
        self.capacity = checks.nonneg_number("device capacity_bytes", capacity_bytes)
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("device 'cuda' was asked for but torch sees no CUDA device: use 'cpu'")
        self.moved = dict.fromkeys(LINKS, 0)
        self.held: dict[object, int] = {}  # device allocations we account for, by key
        self.peak = 0
        self._lock = threading.Lock()  # the prefetch thread counts too
        self._dir = tempfile.TemporaryDirectory(prefix="mlsys-offload-")
        self._files = 0

    def __enter__(self) -> "Tiers":
        return self

    def __exit__(self, *exc: object) -> None:
        self._dir.cleanup()

    # --- the device budget --------------------------------------------------------------
    def hold(self, key: object, tensor: torch.Tensor) -> torch.Tensor:
        """Account for ``tensor`` (on the device) under ``key``; ValueError past the capacity."""
        with self._lock:
            used = sum(self.held.values()) - self.held.get(key, 0) + tensor.nbytes
            if used > self.capacity:
                raise ValueError(f"the device tier holds at most {self.capacity:.0f} bytes: this policy needs "
                                 f"{used} at once (holding {key!r}); offload more to host or disk, or use a "
                                 f"smaller batch")
            self.held[key] = tensor.nbytes
            self.peak = max(self.peak, used)
        return tensor

    def release(self, key: object) -> None:
        with self._lock:
            self.held.pop(key, None)

    # --- storage ------------------------------------------------------------------------
    def on_host(self, tensor: torch.Tensor) -> torch.Tensor:
        """A host copy (pinned when the device is a GPU), not counted: setup, not traffic."""
        out = tensor.detach().to("cpu", copy=True).contiguous()
        return out.pin_memory() if self.device.type == "cuda" else out

    def on_disk(self, shape: tuple[int, ...], init: torch.Tensor | None = None) -> np.memmap:
        """A float32 memory-mapped file of ``shape`` (filled from ``init``, not counted); an
        empty part is an empty array (a file of 0 bytes cannot be mapped)."""
        if not all(shape):
            return np.zeros(shape, dtype=np.float32)  # type: ignore[return-value]
        self._files += 1
        path = Path(self._dir.name) / f"t{self._files}.bin"
        mm = np.memmap(path, dtype=np.float32, mode="w+", shape=shape)
        if init is not None and init.numel():
            mm[...] = init.detach().cpu().numpy().reshape(shape)
        return mm

    def snapshot(self) -> dict[str, int]:
        """Bytes moved so far on each link (consistent while the prefetch thread counts)."""
        with self._lock:
            return dict(self.moved)

    def _count(self, link: str, nbytes: int) -> None:
        with self._lock:
            self.moved[link] += int(nbytes)

    # --- traffic ------------------------------------------------------------------------
    def load(self, host: torch.Tensor | None, disk: np.ndarray | None) -> list[torch.Tensor]:
        """Bring a host part and a disk part onto the device (empty ones are skipped): the disk
        part is read into host memory first (disk -> host), then each crosses to the device."""
        out = []
        if host is not None and host.numel():
            self._count("host_to_device", host.nbytes)
            out.append(host.to(self.device, copy=True))
        if disk is not None and disk.size:
            staged = torch.from_numpy(np.array(disk, dtype=np.float32, copy=True))
            self._count("disk_to_host", staged.nbytes)
            self._count("host_to_device", staged.nbytes)
            out.append(staged.to(self.device, copy=True))
        return out

    def store(self, host_part: torch.Tensor, host_dst: torch.Tensor, disk_part: torch.Tensor,
              disk_dst: np.ndarray) -> None:
        """Write a device tensor's host part into ``host_dst`` (device -> host) and its disk part
        into ``disk_dst`` (device -> host -> disk)."""
        if host_part.numel():
            self._count("device_to_host", host_part.nbytes)
            host_dst.copy_(host_part)
        if disk_part.numel():
            staged = disk_part.to("cpu", copy=True)
            self._count("device_to_host", staged.nbytes)
            self._count("host_to_disk", staged.nbytes)
            disk_dst[...] = staged.numpy()
