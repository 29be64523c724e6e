"""Continuous batching: workloads, four schedulers, a real engine on the tiny GPT, a fast
simulator and the serving metrics (Orca, vLLM, Sarathi-Serve, DistServe).

Read in this order (the teaching path): ``sequence`` (a request's state), ``kv`` (the blocks a
scheduler sees), ``scheduler`` (the interface, vllm, chunked), ``engine`` (schedule, run,
postprocess); then, beside it, the two back-ends ``real`` (the tiny GPT) and ``simulator``
(cost model and fast-forward), ``baselines`` (static, continuous) and ``swap``.
Defaults: ``config``."""

from mlsys_kit.serving.config import ServingConfig, WorkloadConfig, default_token_budget
from mlsys_kit.serving.engine import IterationRecord, ServeResult, serve
from mlsys_kit.serving.metrics import percentile, summarize, throughput_at_latency, time_series
from mlsys_kit.serving.real import RealBackend
from mlsys_kit.serving.scheduler import SCHEDULERS, Scheduler, make_scheduler
from mlsys_kit.serving.sequence import Seq, SeqStatus
from mlsys_kit.serving.simulator import CostModel, SimBackend, fit_cost_model
from mlsys_kit.serving.workload import LengthDist, Request, length_dist, load_trace, make_workload, save_trace

__all__ = ["CostModel", "IterationRecord", "RealBackend", "ServeResult", "ServingConfig", "SimBackend",
           "WorkloadConfig", "default_token_budget", "fit_cost_model", "serve", "percentile",
           "throughput_at_latency", "summarize", "time_series", "SCHEDULERS", "Scheduler", "make_scheduler",
           "Seq", "SeqStatus", "LengthDist", "Request", "length_dist", "load_trace", "make_workload", "save_trace"]
