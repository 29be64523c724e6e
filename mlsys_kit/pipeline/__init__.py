"""Pipeline parallelism: schedule IR, generators, validator, event simulator, torch.distributed runtime.

Papers: GPipe (Huang et al., NeurIPS'19), PipeDream (Narayanan et al., SOSP'19), Megatron-LM
(Narayanan et al., SC'21, section 2.2), Zero Bubble Pipeline Parallelism (Qi et al., ICLR'24).
Vocabulary: F, B (backward for inputs), W (backward for weights), BW (both), as in Zero Bubble;
torch.distributed.pipelining calls our BW "B" and our B "I".
"""

from mlsys_kit.pipeline.generators import SCHEDULES, gpipe, interleaved_1f1b, make_schedule, one_f_one_b, zb_h1, zb_v
from mlsys_kit.pipeline.schedule import KINDS, Action, Schedule
from mlsys_kit.pipeline.simulate import Event, SimResult, simulate
from mlsys_kit.pipeline.validate import ScheduleError, is_valid, validate

__all__ = [
    "KINDS", "SCHEDULES", "Action", "Event", "Schedule", "ScheduleError", "SimResult", "gpipe",
    "interleaved_1f1b", "is_valid", "make_schedule", "one_f_one_b", "simulate", "validate", "zb_h1", "zb_v",
]
