"""Continuous batching: workloads, four schedulers, a real engine on the tiny GPT, a fast
simulator and the serving metrics (Orca, vLLM, Sarathi-Serve, DistServe)."""

from mlsys_kit.serving.engine import CostModel, RealBackend, ServeResult, SimBackend, fit_cost_model, serve
from mlsys_kit.serving.metrics import percentile, summarize, throughput_at_latency, time_series
from mlsys_kit.serving.scheduler import SCHEDULERS, Scheduler, make_scheduler
from mlsys_kit.serving.sequence import Seq
from mlsys_kit.serving.workload import LengthDist, Request, load_trace, make_workload, save_trace

__all__ = ["CostModel", "RealBackend", "ServeResult", "SimBackend", "fit_cost_model", "serve", "percentile", "throughput_at_latency",
           "summarize", "time_series", "SCHEDULERS", "Scheduler", "make_scheduler", "Seq", "LengthDist",
           "Request", "load_trace", "make_workload", "save_trace"]
