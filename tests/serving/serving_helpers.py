"""Helpers shared by the serving tests (a plain module: pytest collects nothing from it)."""

from mlsys_kit.serving.scheduler import VLLMScheduler


class NoPreemption(VLLMScheduler):
    """vLLM admission without preemption: a decode that finds no free block just waits."""

    def preempt(self, seq):
        raise AssertionError("unused")

    def schedule_decodes(self, batch):
        taken = 0
        for seq in self.running:
            need = self.kv.blocks_needed(seq.rid, 1)
            if need <= self.kv.num_free - taken:
                batch.append((seq, 1))
                taken += need
        return taken


def static_batches(res):
    """The batches of a static run, by the time their prefill started (a batch starts together)."""
    batches = {}
    for s in res.seqs:
        start = next(t for t, state in s.events if state == "prefill")
        batches.setdefault(start, []).append(s)
    return list(batches.values())
