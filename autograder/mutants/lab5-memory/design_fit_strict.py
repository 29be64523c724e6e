"""Counts a batch as fitting only when its peak stays strictly below the free memory: a batch
whose peak equals the budget to the byte is rejected, so keep_all is one too small there."""
EDITS = [("design", 'keep = largest(lambda b: plan_peak(gpt2_chain(b), "K" * 12) <= free)',
          'keep = largest(lambda b: plan_peak(gpt2_chain(b), "K" * 12) < free)')]
