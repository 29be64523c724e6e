"""The papers' headline comparisons, re-run in the simulator on generated traces.

Each setup is a (jobs, cluster) pair and the policies it compares; :func:`paper_numbers` runs them
and puts the simulator's ratio of average JCT beside the paper's:

* **Tiresias** (NSDI'19, abstract and section 6.2): 2D-LAS cuts average JCT by up to 5.5x against
  YARN-CS (FIFO) on its testbed and stays close to the clairvoyant SRTF. Setup: Philly-shaped
  jobs on 64 V100s (8 per machine).
* **Gavel** (OSDI'20, abstract; section 7.2): heterogeneity-aware policies improve average JCT by
  up to 3.5x over their heterogeneity-agnostic twins. Setup: Philly-shaped jobs of Gavel's model
  classes on 16 V100 + 16 P100 + 16 K80, max-min fairness aware vs agnostic.
* **Pollux** (OSDI'21, abstract; section 5.2): 37-50 % lower average JCT than Tiresias and
  Optimus. Setup: the Tiresias setup (one GPU type, as Pollux's evaluation).

Why the ratios differ from the papers is said in docs/cluster.md (trace, load, cluster size,
what each job's throughput model holds).
"""

from __future__ import annotations

from mlsys_kit.checks import positive_int, positive_number
from mlsys_kit.cluster.core import Cluster, Job
from mlsys_kit.cluster.metrics import summarize
from mlsys_kit.cluster.pollux import PolluxParams, nodes_for
from mlsys_kit.cluster.pollux import throughput as pollux_throughput
from mlsys_kit.cluster.registry import make_policy
from mlsys_kit.cluster.simulate import simulate
from mlsys_kit.cluster.workload import generate

# (what is compared, the paper's ratio of average JCT, where it is stated)
PAPER = {
    "tiresias_vs_fifo": (5.5, "Tiresias NSDI'19, abstract: up to 5.5x vs YARN-CS (FIFO)"),
    "srtf_vs_tiresias": (1.0, "Tiresias NSDI'19, section 6.2: close to SRTF (~1x)"),
    "gavel_aware_vs_agnostic": (3.5, "Gavel OSDI'20, abstract: up to 3.5x"),
    "pollux_vs_tiresias": (1 / (1 - 0.37), "Pollux OSDI'21, abstract: 37-50% lower avg JCT (1.6-2x)"),
}


def homogeneous_setup(n: int = 300, load: float = 0.9, seed: int = 1) -> tuple[list[Job], Cluster]:
    """Philly-shaped jobs on 64 V100s, 8 to a machine."""
    cluster = Cluster.homogeneous(64)
    return generate(n, "philly", gpus=64, load=load, seed=seed), cluster


def heterogeneous_setup(n: int = 300, load: float = 0.9, seed: int = 1,
                        heterogeneity: float = 1.0) -> tuple[list[Job], Cluster]:
    """Philly-shaped jobs of Gavel's model classes on 16 V100 + 16 P100 + 16 K80."""
    cluster = Cluster.from_counts({"v100": 16, "p100": 16, "k80": 16})
    jobs = generate(n, "philly", gpus=48, load=load, seed=seed, gpu_types=cluster.gpu_types,
                    heterogeneity=heterogeneity, max_size=16)
    return jobs, cluster


def run_policies(jobs: list[Job], cluster: Cluster, policies: list[str], record: bool = False) -> dict:
    """``{policy: SimResult}`` for each policy name on the same jobs and cluster."""
    return {p: simulate(jobs, cluster, make_policy(p), record=record) for p in policies}


def paper_numbers(n: int = 300, load: float = 1.2, seed: int = 1, pollux: bool = True, record: bool = False) -> dict:
    """Every comparison: per-policy metrics and ``{comparison: {"sim": ratio, "paper": ratio, "source": ...}}``;
    with ``record`` also the runs themselves under ``"runs"`` (for the pictures)."""
    positive_int("n", n)
    positive_number("load", load)
    homo = run_policies(*homogeneous_setup(n, load, seed), ["fifo", "srtf", "tiresias"] + (["pollux"] if pollux else []),
                        record)
    het = run_policies(*heterogeneous_setup(n, load, seed), ["gavel", "gavel-agnostic", "fifo"], record)
    m = {"homogeneous": {p: summarize(r) for p, r in homo.items()},
         "heterogeneous": {p: summarize(r) for p, r in het.items()}}
    jct = lambda setup, p: m[setup][p]["avg_jct"]  # noqa: E731
    sim = {"tiresias_vs_fifo": jct("homogeneous", "fifo") / jct("homogeneous", "tiresias"),
           "srtf_vs_tiresias": jct("homogeneous", "tiresias") / jct("homogeneous", "srtf"),
           "gavel_aware_vs_agnostic": jct("heterogeneous", "gavel-agnostic") / jct("heterogeneous", "gavel")}
    if pollux:
        sim["pollux_vs_tiresias"] = jct("homogeneous", "tiresias") / jct("homogeneous", "pollux")
    ratios = {k: {"sim": v, "paper": PAPER[k][0], "source": PAPER[k][1]} for k, v in sim.items()}
    out = {"jobs": n, "load": load, "seed": seed, "ratios": ratios, "metrics": m}
    if record:
        out["runs"] = {"homogeneous": homo, "heterogeneous": het}
    return out


def fitted_jobs(pollux_params: dict, n: int = 40, gpus: int = 16, load: float = 1.2, seed: int = 1) -> list[Job]:
    """``n`` jobs of the tiny GPT whose Pollux models were fitted on this CPU (``fit_report()["pollux_params"]``):
    sizes, lengths and arrivals from the Philly-shaped generator, each job's throughput at its GPUs and
    initial batch ``m0`` from the fitted model, and the fitted parameters in ``Job.pollux``: the
    issue's "the simulator uses the fitted job"."""
    try:
        p = PolluxParams(**pollux_params)
    except TypeError as exc:
        raise ValueError(f"pollux_params must hold PolluxParams' fields (fit_report()['pollux_params']): {exc}") from None
    out = []
    for j in generate(n, "philly", gpus=gpus, load=load, seed=seed, max_size=min(gpus, 8)):
        local = max(1, min(p.max_local, p.m0 // j.gpus))
        rate = pollux_throughput(p, j.gpus, nodes_for(j.gpus, 8), local) / p.m0  # iterations of m0 per second
        out.append(Job(j.id, j.arrival, j.gpus, j.iterations * rate, {"v100": rate}, batch_size=p.m0, pollux=p))
    return out


def fitted_comparison(pollux_params: dict, n: int = 40, gpus: int = 16, seed: int = 1) -> dict:
    """Tiresias and Pollux on the fitted tiny-GPT jobs: ``{policy: metrics}`` and the avg-JCT ratio."""
    jobs, cluster = fitted_jobs(pollux_params, n, gpus, seed=seed), Cluster.homogeneous(gpus)
    m = {p: summarize(r) for p, r in run_policies(jobs, cluster, ["tiresias", "pollux"]).items()}
    return {"metrics": m, "tiresias_over_pollux": m["tiresias"]["avg_jct"] / m["pollux"]["avg_jct"]}
