"""Demo-report section of the paged KV cache (PagedAttention, Kwon et al., SOSP'23)."""

from __future__ import annotations

from typing import Callable

from mlsys_kit.common import Figure, Section
from mlsys_kit.kvcache.accounting import sharing_report, sweep_block_sizes, waste_report
from mlsys_kit.kvcache.config import KVCACHE as C
from mlsys_kit.kvcache.scenario import EVENTS, replay
from mlsys_kit.kvcache.viz import block_grid_figure, waste_figure
from mlsys_kit.viz.figure import figure_png


def section(progress: Callable[[str], None]) -> Section:
    from mlsys_kit.kvcache.runner import generate_paged
    from mlsys_kit.models.gpt import GPT

    progress(f"memory accounting: {C.requests} ShareGPT-like requests, static reservation vs paging")
    report = waste_report(C.block_size, C.requests, C.max_len, C.seed)
    sweep = sweep_block_sizes(list(C.sweep), C.requests, C.max_len, C.seed)
    sharing = sharing_report(C.block_size, min(C.requests, 200), C.samples, C.shared_prefix, C.max_len, C.seed)
    progress("block pool after the arrive/decode/fork/finish timeline")
    mgr, log = replay(C.grid_steps, block_size=C.grid_block_size)
    progress("greedy generation of the tiny GPT with the paged cache vs full recomputation")
    model = GPT(C.preset, seed=C.seed)
    import torch

    prompts = torch.randint(0, model.config.vocab_size, (C.prompts, C.prompt_len),
                            generator=torch.Generator().manual_seed(C.seed)).tolist()
    outs, stats = generate_paged(model, prompts, C.max_new_tokens, block_size=C.generate_block_size)
    matches = outs == [model.generate_reference(p, C.max_new_tokens) for p in prompts]
    rows = [
        ("static reservation: KV memory holding tokens", report["static_utilization"]),
        (f"paged (block {C.block_size}): KV memory holding tokens", report["paged_utilization"]),
        (f"paged: slots wasted per sequence (< block {C.block_size})", report["paged_waste_slots_per_seq"]),
        (f"fork x{C.samples}: fraction of blocks saved", sharing["fork_saving"]),
        (f"{C.shared_prefix}-token shared prefix: fraction of blocks saved", sharing["prefix_saving"]),
        ("paged greedy generation token-identical to reference", matches),
        (f"{C.preset} GPT paged generation, tokens/s ({C.prompts} x {C.max_new_tokens})", stats["tokens_per_s"]),
    ]
    figures = [
        Figure("KV memory holding real tokens: static reservation of max_len vs paging, and the "
               "block-size trade-off", figure_png(waste_figure(report, sweep)),
               f"mlsys-kit kvcache waste --block-size {C.block_size} --requests {C.requests} --plot waste.png"),
        Figure(f"Physical blocks after: {log[-1]} (xN: shared by N sequences)",
               figure_png(block_grid_figure(mgr, title=f"after {len(log)} of {len(EVENTS)} events")),
               f"mlsys-kit kvcache blocks --block-size {C.grid_block_size} --steps {C.grid_steps} --plot blocks.png"),
    ]
    return Section(
        topic="kvcache", title="Paged KV cache (PagedAttention, SOSP'23)",
        summary="Reserving max_len per request leaves most KV memory empty; paging in blocks wastes less "
                "than one block per sequence, and fork / prefix caching share blocks. The tiny GPT's greedy "
                "generation through the paged cache equals full recomputation token for token.",
        rows=rows, figures=figures, data={"waste": report, "sharing": sharing, "generation": stats, "log": log})
