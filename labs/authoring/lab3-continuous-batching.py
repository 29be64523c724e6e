# lab3-continuous-batching: the source of labs/source/lab3-continuous-batching/lab3-continuous-batching.ipynb (jupytext percent format).
# Build the notebook with `mlsys-grade build lab3-continuous-batching`; docs/labs.md says how a lab is written.
# mlsys_grade: {"reference": ["mlsys_kit.serving.scheduler"]}

# %% [markdown] id="intro"
# # Lab 3: continuous batching with KV admission, preemption and chunked prefill
#
# A serving engine runs in *iterations*: each iteration feeds every request in the batch some new
# tokens (its prompt, a chunk of it, or the one token it generated last) through one forward pass.
# **Orca** (OSDI'22, section 3) schedules at this granularity: requests join and leave the batch at
# any iteration. **vLLM** (SOSP'23, section 4.5) admits a request only if the paged KV cache has
# free *blocks* for it, and when a running request needs a block that is not there it *preempts*
# the newest running request (it drops its cache and recomputes it later, first in line).
# **Sarathi-Serve** (OSDI'24, section 4) caps the tokens of an iteration: decodes go first, prompts
# fill what is left in *chunks*, so a long prompt never stalls the decodes beside it.
#
# You write that scheduler as three functions; the engine (`mlsys_kit.serving.engine.serve`) runs it
# on a simulator and on a real tiny GPT with a paged KV cache. Each iteration your scheduler returns
# a batch: a list of `(seq, n)` entries, "feed `n` new tokens of `seq`".
#
# What you can use (all in the setup cell below):
#
# * `seq.rid` (id, also the KV-cache key), `seq.num_uncomputed` (tokens still to feed before the
#   next sample: 1 while decoding), `seq.is_decoding`, `seq.num_computed` (tokens whose K/V are cached),
#   `seq.status` (`"waiting"`/`"running"`), `seq.num_preemptions`, `seq.events` (a list of `(time, state)`);
# * `sched.kv.num_free` (free blocks now), `sched.kv.blocks_needed(rid, n)` (blocks that feeding `n` more
#   tokens to `rid` takes), `sched.kv.free(rid)` (release all of `rid`'s blocks);
# * `sched.waiting` (a deque, FCFS), `sched.running` (a list, oldest admitted first),
#   `sched.max_num_seqs`, `sched.token_budget`, `sched.now`.
#
# Blocks that you put in this iteration's batch are not taken from `kv.num_free` until the engine
# runs the batch: keep count of them yourself (`taken`). Total: 17 points: 15 autograded, and 2 for
# the closing "why" answer, which your instructor grades by hand.

# %% kind="locked" id="setup"
from collections import deque

from mlsys_kit.serving.engine import serve
from mlsys_kit.serving.real import RealBackend
from mlsys_kit.serving.simulator import SimBackend
from mlsys_kit.serving.kv import SimKV
from mlsys_kit.serving.metrics import summarize
from mlsys_kit.serving.sequence import Seq
from mlsys_kit.serving.workload import LengthDist, Request, make_workload

NO_BUDGET = 10**9

# The design question's setting (section 6): 60 requests at 4 per second with long prompts, served
# with 64 seats and 4096 KV blocks of 16 tokens on the simulator; the budgets to choose from
DESIGN_SPEC = {"n": 60, "rate": 4.0, "prompt": ["lognormal", 512, 16, 2048, 1.0],
               "output": ["lognormal", 24, 2, 64, 0.8], "seed": 0}
DESIGN_BUDGETS = [128, 256, 512, 1024, 2048, NO_BUDGET]
DESIGN_SEATS, DESIGN_BLOCKS = 64, 4096
DESIGN_ITL_TARGET = 0.1   # seconds: the longest gap between two tokens of a request (its p99)


class LabScheduler:
    """The engine's scheduler interface, wired to the three functions you write below."""

    name = "lab"
    # what your functions get of a scheduler (the grader sends these fields to your code)
    _mirror_fields = ("kv", "max_num_seqs", "token_budget", "waiting", "running", "now")

    def __init__(self, kv, max_num_seqs=8, token_budget=NO_BUDGET):
        self.kv = kv
        self.max_num_seqs = max_num_seqs
        self.token_budget = token_budget
        self.waiting = deque()
        self.running = []
        self.now = 0.0

    def add(self, seq):
        seq.status = "waiting"
        self.waiting.append(seq)

    def has_unfinished(self):
        return bool(self.waiting or self.running)

    def schedule(self):
        batch = []
        taken = schedule_decodes(self, batch)
        schedule_prefills(self, batch, taken)
        return batch

    def finish(self, seq):
        seq.status = "finished"
        self.running.remove(seq)
        self.kv.free(seq.rid)


def lab_factory(max_num_seqs=8, token_budget=NO_BUDGET):
    return lambda kv: LabScheduler(kv, max_num_seqs, token_budget)


def running_seq(kv, rid, prompt_len, output_len, generated=0, computed=None):
    """A request already running, with its KV in ``kv`` (for small hand-made scenarios)."""
    s = Seq(Request(rid, 0.0, prompt_len, output_len), order=rid)
    s.status, s.num_generated = "running", generated
    s.num_computed = prompt_len + generated - 1 if computed is None else computed
    if s.num_computed:
        kv.append(rid, s.num_computed)
    return s

# %% kind="checker" id="states"
import copy


def draw_state(rng, block_sizes=(1, 2, 3, 4, 8)):
    """A random scheduler state, as the hidden tests draw them (try ``draw_state(random.Random(0))``
    and ``describe_state``): a few KV blocks of a random size, few or none of them free; requests
    running in admission order (decoding, prefilling their prompt, or prefilling again after a
    preemption) whose ids are not in arrival order; requests waiting (new or preempted); a token
    budget (or none), the seats and the clock."""
    bs = rng.choice(block_sizes)
    rids = rng.sample(range(100), rng.randint(1, 8))
    n_running = rng.randint(0, len(rids))
    seqs, held = [], 0
    for i, rid in enumerate(rids):
        kind = rng.choice(["decode", "decode", "prefill", "last-token", "recompute"] if i < n_running
                          else ["new", "new", "preempted"])
        prompt = rng.randint(2 if kind in ("prefill", "recompute") else 1, 24 if kind in ("prefill", "new") else 12)
        generated = 0 if kind in ("prefill", "last-token", "new") else rng.randint(1, 5)
        s = Seq(Request(rid, round(rng.uniform(0, 10), 2), prompt, generated + rng.randint(1, 5)), order=i)
        s.num_generated = generated
        if kind == "decode":
            s.num_computed = prompt + generated - 1
        elif kind == "last-token":  # one prompt token left: prefilling still, not decoding
            s.num_computed = prompt - 1
        elif kind == "prefill":
            s.num_computed = rng.randint(1, prompt - 1)
        elif kind == "recompute":  # preempted, admitted again: at least 2 tokens left, not decoding
            s.num_computed = rng.randint(1, prompt + generated - 2)
        s.num_preemptions = rng.randint(1, 3) if kind in ("recompute", "preempted") else 0
        s.status = "running" if i < n_running else "waiting"
        held += -(-s.num_computed // bs)
        seqs.append(s)
    demand = sum(-(-(s.prompt_len + s.num_generated) // bs) for s in seqs) - held + 1  # blocks to feed everyone
    kv = SimKV(max(1, held + rng.choice([0, 0, 1, 2, rng.randint(0, demand), rng.randint(0, demand), demand])), bs)
    for s in seqs[:n_running]:
        if s.num_computed:
            kv.append(s.rid, s.num_computed)
    sched = LabScheduler(kv, max_num_seqs=rng.randint(max(1, n_running), n_running + 3),
                         token_budget=rng.choice([NO_BUDGET, rng.randint(1, 40)]))
    sched.running, sched.waiting = seqs[:n_running], deque(seqs[n_running:])
    sched.now = round(rng.uniform(0, 100), 3)
    return sched


def decodes_batch(sched, rng):
    """A batch of decodes as ``schedule_decodes`` could have left it for ``schedule_prefills``
    (some of the decoding requests, while blocks last, no preemption), and the blocks it takes."""
    batch, taken = [], 0
    for s in sched.running:
        need = sched.kv.blocks_needed(s.rid, 1)
        if s.is_decoding and rng.random() < 0.8 and need <= sched.kv.num_free - taken:
            batch.append((s, 1))
            taken += need
    return batch, taken


def describe_state(sched, batch=None, taken=None):
    """A scheduler state in words (what a failing test prints)."""
    kv = sched.kv

    def seq(s):
        what = ("decoding" if s.is_decoding else f"{s.num_uncomputed} to prefill") if s.status == "running" else \
            ("preempted" if s.num_preemptions else "new")
        return f"{s.rid} (prompt {s.prompt_len}, generated {s.num_generated}, computed {s.num_computed}: {what})"

    text = (f"KV {kv.num_blocks} blocks of {kv.block_size} tokens, {kv.num_free} free; running "
            f"[{', '.join(map(seq, sched.running))}]; waiting [{', '.join(map(seq, sched.waiting))}]; "
            f"token_budget {sched.token_budget}, max_num_seqs {sched.max_num_seqs}, now {sched.now}")
    if batch is not None:
        text += f"; batch {[(s.rid, n) for s, n in batch]}, taken {taken}"
    return text


def scheduler_state(sched, seqs):
    """What a step may change, as plain data: the queues (request ids in order), the free blocks,
    and for each of ``seqs`` its status, progress, preemptions, events and KV (tokens and blocks)."""
    kv = sched.kv
    return {"running": [s.rid for s in sched.running], "waiting": [s.rid for s in sched.waiting],
            "kv.num_free": kv.num_free, "token_budget": sched.token_budget, "max_num_seqs": sched.max_num_seqs,
            "now": sched.now,
            **{f"request {s.rid}": {"status": str(s.status), "num_computed": s.num_computed,
                                    "num_generated": s.num_generated, "num_preemptions": s.num_preemptions,
                                    "events": [tuple(e) for e in s.events], "KV tokens": kv.num_tokens(s.rid),
                                    "KV blocks": kv.block_table(s.rid)} for s in seqs}}


def copy_into(sched, other, *extra):
    """Give ``other`` (another scheduler) a deep copy of ``sched``'s KV, queues, settings and
    clock; returns ``other`` and the copies of ``extra`` (requests, a batch) in that state."""
    kv, waiting, running, extra = copy.deepcopy((sched.kv, sched.waiting, sched.running, extra))
    other.kv, other.waiting, other.running = kv, waiting, running
    other.max_num_seqs, other.token_budget, other.now = sched.max_num_seqs, sched.token_budget, sched.now
    return (other, *extra)


def first_difference(got, want, where=""):
    """None if ``got == want`` (plain data), else where they first differ, in words."""
    if type(got) is dict and type(want) is dict:
        for k in want:
            d = first_difference(got.get(k), want[k], f"{where}.{k}" if where else str(k))
            if d:
                return d
        return None
    if got != want or type(got) is not type(want):
        return f"{where or 'the result'}: expected {want!r}, got {got!r}"
    return None

# %% [markdown] id="md-preempt"
# ## 1. Preemption by recompute (2 points)
#
# `preempt(sched, seq)`: take `seq` out of `sched.running`, release its KV blocks, set
# `seq.num_computed = 0` (its prompt *and* the tokens it generated so far will be prefilled again),
# count the preemption in `seq.num_preemptions`, mark it `"waiting"`, append `(sched.now, "preempted")`
# to `seq.events`, and put it at the **front** of the waiting queue: it arrived before everything
# that waits, and first-come-first-served must hold.

# %% kind="solution" id="preempt"
def preempt(sched, seq):
    ### BEGIN SOLUTION
    sched.running.remove(seq)
    sched.kv.free(seq.rid)
    seq.num_computed = 0
    seq.num_preemptions += 1
    seq.status = "waiting"
    seq.events.append((sched.now, "preempted"))
    sched.waiting.appendleft(seq)
    ### END SOLUTION

# %% kind="test" id="test_preempt" points=2
kv = SimKV(16, 4)
sched = LabScheduler(kv)
sched.now = 2.5
a, b = running_seq(kv, 0, 6, 5, generated=2), running_seq(kv, 1, 9, 5, generated=1)
sched.running = [a, b]
sched.waiting.append(running_seq(SimKV(4, 4), 2, 3, 3, computed=0))
free_before = kv.num_free
preempt(sched, b)
case = "running [0, 1], waiting [2], preempt(sched, request 1)"
assert [s.rid for s in sched.running] == [0], f"{case}: running should be [0], got {[s.rid for s in sched.running]}"
assert [s.rid for s in sched.waiting] == [1, 2], \
    f"{case}: the preempted request goes first in line: waiting should be [1, 2], got {[s.rid for s in sched.waiting]}"
assert b.num_computed == 0, f"{case}: num_computed should be 0 (it is prefilled again), got {b.num_computed}"
assert b.status == "waiting", f"{case}: status should be 'waiting', got {b.status!r}"
assert b.num_preemptions == 1, f"{case}: num_preemptions should be 1, got {b.num_preemptions}"
assert b.events[-1] == (2.5, "preempted"), f"{case}: the last event should be (sched.now, 'preempted') = (2.5, 'preempted'), got {b.events[-1]}"
assert kv.num_free == free_before + 3, \
    f"{case}: its 3 blocks (9 tokens of 4 per block) must be free again: {free_before + 3} free expected, got {kv.num_free}"
### BEGIN HIDDEN TESTS
from mlsys_kit.serving.scheduler import ChunkedScheduler as _Chunked
assert a.num_computed == 7 and kv.num_tokens(0) == 7 and a.num_preemptions == 0, "request 0 is left alone"
sched.now = 4.0
preempt(sched, a)
assert [s.rid for s in sched.waiting] == [0, 1, 2] and sched.running == [] and kv.num_free == 16
assert a.events[-1] == (4.0, "preempted") and b.events[-1] == (2.5, "preempted"), (a.events, b.events)
# drawn states (your own): a random running request of each, against the reference on a copy
_rng = student_rng("preempt")
for _k in range(40):
    sched = draw_state(_rng)
    if not sched.running:
        continue
    seq = _rng.choice(sched.running)
    seqs = list(sched.running) + list(sched.waiting)
    case = f"{describe_state(sched)}; preempt(sched, request {seq.rid})"
    _ref, _ref_seq, _ref_seqs = copy_into(sched, _Chunked(SimKV(1, 1), 1, NO_BUDGET), seq, seqs)
    preempt(sched, seq)
    _ref.preempt(_ref_seq)
    _d = first_difference(scheduler_state(sched, seqs), scheduler_state(_ref, _ref_seqs))
    assert _d is None, f"{case}: {_d}"
### END HIDDEN TESTS

# %% [markdown] id="md-decodes"
# ## 2. Decodes first, preempting the newest when blocks run out (3 points)
#
# `schedule_decodes(sched, batch)`: go through `sched.running` oldest first; for every sequence
# that `is_decoding`, add `(seq, 1)` to `batch` if the block(s) its one new token needs
# (`kv.blocks_needed(seq.rid, 1)`, usually 0, 1 at a block boundary) are free *after* what the batch
# already takes. If they are not, preempt the **newest** running sequence (the last of
# `sched.running`) and try again; if the sequence itself is the newest, preempt it and stop.
# Skip sequences that are still prefilling. Return the number of blocks the batch takes.

# %% kind="solution" id="decodes"
def schedule_decodes(sched, batch):
    ### BEGIN SOLUTION
    kv, running = sched.kv, sched.running
    taken = 0
    i = 0
    while i < len(running):
        seq = running[i]
        if not seq.is_decoding:
            i += 1
            continue
        need = kv.blocks_needed(seq.rid, 1)
        while need > kv.num_free - taken and running[-1] is not seq:
            preempt(sched, running[-1])
        if need > kv.num_free - taken:
            preempt(sched, seq)
            break
        batch.append((seq, 1))
        taken += need
        i += 1
    return taken
    ### END SOLUTION

# %% kind="test" id="test_decodes" points=3
kv = SimKV(5, 4)
sched = LabScheduler(kv)
# three decoding requests at a block boundary (8, 4 and 4 tokens cached): each needs 1 new block
seqs = [running_seq(kv, 0, 6, 9, generated=3), running_seq(kv, 1, 4, 9, generated=1), running_seq(kv, 2, 2, 9, generated=3)]
sched.running = list(seqs)
assert kv.num_free == 1
batch = []
taken = schedule_decodes(sched, batch)
case = "3 decodes at a block boundary, 1 block free"
assert [(s.rid, n) for s, n in batch] == [(0, 1), (1, 1)], \
    f"{case}: the batch should be [(0, 1), (1, 1)], got {[(s.rid, n) for s, n in batch]}"
assert type(taken) is int and taken == 2, f"{case}: the batch takes 2 blocks: return 2, got {taken!r}"
assert [s.rid for s in sched.waiting] == [2], \
    f"{case}: request 1 needs a block: the newest (2) is preempted; waiting should be [2], got {[s.rid for s in sched.waiting]}"
assert seqs[2].num_preemptions == 1, f"{case}: request 2 was preempted once, its num_preemptions is {seqs[2].num_preemptions}"
### BEGIN HIDDEN TESTS
from mlsys_kit.serving.scheduler import ChunkedScheduler as _Chunked
assert seqs[0].num_preemptions == 0 and seqs[1].num_preemptions == 0
kv = SimKV(4, 4)
sched = LabScheduler(kv)
seqs = [running_seq(kv, 0, 6, 9, generated=3), running_seq(kv, 1, 4, 9, generated=1), running_seq(kv, 2, 2, 9, generated=3)]
sched.running = list(seqs)
batch = []
assert schedule_decodes(sched, batch) == 1 and [(s.rid, n) for s, n in batch] == [(0, 1)]
assert [s.rid for s in sched.waiting] == [1, 2], "2 is preempted for 0, then 1 is the newest and preempts itself"
kv = SimKV(8, 4)
sched = LabScheduler(kv)
p = running_seq(kv, 5, 10, 4, computed=4)  # still prefilling: not a decode
d = running_seq(kv, 6, 5, 4, generated=1)   # 5 cached tokens: its next token fits the block
sched.running = [p, d]
batch = []
assert schedule_decodes(sched, batch) == 0 and [(s.rid, n) for s, n in batch] == [(6, 1)]
assert not sched.waiting
kv = SimKV(3, 4)
sched = LabScheduler(kv)
old, new = running_seq(kv, 0, 9, 9, generated=0, computed=8), running_seq(kv, 1, 3, 9, generated=2)  # 8 and 4 cached
old.num_generated, old.prompt_len = 1, 8  # decoding: 8 cached, its 9th token to feed
sched.running = [old, new]
batch = []
assert schedule_decodes(sched, batch) == 1 and [(s.rid, n) for s, n in batch] == [(0, 1)]
assert [s.rid for s in sched.waiting] == [1] and new.num_computed == 0
kv = SimKV(2, 4)
sched = LabScheduler(kv)
alone = running_seq(kv, 3, 7, 9, generated=2)  # 8 cached: the whole cache
sched.running = [alone]
batch = []
assert schedule_decodes(sched, batch) == 0 and list(batch) == [] and [s.rid for s in sched.waiting] == [3]
assert alone.num_preemptions == 1 and alone.events[-1] == (sched.now, "preempted"), "it preempted itself: counted"
# drawn states (your own), against the reference on a copy
_rng = student_rng("decodes")
for _k in range(60):
    sched = draw_state(_rng)
    seqs = list(sched.running) + list(sched.waiting)
    case = f"{describe_state(sched)}; schedule_decodes(sched, [])"
    _ref, _ref_seqs = copy_into(sched, _Chunked(SimKV(1, 1), 1, NO_BUDGET), seqs)
    batch, _ref_batch = [], []
    taken = schedule_decodes(sched, batch)
    _want = _ref.schedule_decodes(_ref_batch)
    assert [(s.rid, n) for s, n in batch] == [(s.rid, n) for s, n in _ref_batch], \
        f"{case}: the batch should be {[(s.rid, n) for s, n in _ref_batch]}, got {[(s.rid, n) for s, n in batch]}"
    assert type(taken) is int and taken == _want, f"{case}: should return {_want}, got {taken!r}"
    _d = first_difference(scheduler_state(sched, seqs), scheduler_state(_ref, _ref_seqs))
    assert _d is None, f"{case}: {_d}"
### END HIDDEN TESTS

# %% [markdown] id="md-prefills"
# ## 3. Prompts: continue prefills, then admit FCFS by free blocks, within the token budget (3 + 3 points)
#
# `schedule_prefills(sched, batch, taken)` fills what the decodes left of the iteration's token
# budget, `budget = sched.token_budget - len(batch)`:
#
# 1. **ongoing prefills**: running sequences that are not decoding (admitted earlier, prompt only
#    partly fed), oldest first: add `(seq, n)` with `n = min(seq.num_uncomputed, budget)` if its
#    blocks are free after `taken`; if they are not, preempt newer running sequences that are *not
#    in the batch yet*; if it still does not fit, stop (prefills wait, only decodes preempt);
# 2. **admission**, FCFS: while budget is left, requests wait, and fewer than `sched.max_num_seqs`
#    run: the head of `sched.waiting` is admitted only if the blocks for its *whole* remaining prompt
#    (`num_uncomputed` tokens) are free after `taken`; otherwise stop: nothing may overtake it.
#    Admitting means: pop it from the waiting queue, set `status = "running"`, append it to
#    `sched.running`, and add `(seq, min(seq.num_uncomputed, budget))` to the batch.
#
# Update `taken` and `budget` as you add entries. With `token_budget = NO_BUDGET` this is Orca's
# iteration-level batching with vLLM's block admission; with a budget (say 16) it is Sarathi-Serve.

# %% kind="solution" id="prefills"
def schedule_prefills(sched, batch, taken):
    ### BEGIN SOLUTION
    kv, running = sched.kv, sched.running
    budget = sched.token_budget - len(batch)
    in_batch = {s.rid for s, _ in batch}
    for seq in list(running):
        if budget <= 0:
            break
        if seq.is_decoding or seq.status != "running":
            continue
        n = min(seq.num_uncomputed, budget)
        need = kv.blocks_needed(seq.rid, n)
        while need > kv.num_free - taken and running[-1] is not seq and running[-1].rid not in in_batch:
            preempt(sched, running[-1])
        if need > kv.num_free - taken:
            break
        batch.append((seq, n))
        in_batch.add(seq.rid)
        taken += need
        budget -= n
    while budget > 0 and sched.waiting and len(running) < sched.max_num_seqs:
        seq = sched.waiting[0]
        if kv.blocks_needed(seq.rid, seq.num_uncomputed) > kv.num_free - taken:
            break
        n = min(seq.num_uncomputed, budget)
        sched.waiting.popleft()
        seq.status = "running"
        running.append(seq)
        batch.append((seq, n))
        taken += kv.blocks_needed(seq.rid, n)
        budget -= n
    ### END SOLUTION

# %% kind="checker" id="checks"
def workload_from(spec):
    """The seeded trace a spec names, made the same way in your kernel and in the grader: ``spec``
    is plain data, {"n", "rate", "prompt": [kind, mean, low, high], "output": [...], "seed"} and
    optionally "process", "cv" and "vocab"."""
    from mlsys_kit.serving.workload import LengthDist as _LD, make_workload as _make

    return _make(spec["n"], spec["rate"], _LD(*spec["prompt"]), _LD(*spec["output"]), spec.get("process", "poisson"),
                 spec.get("cv", 1.0), spec["seed"], vocab_size=spec.get("vocab"))


def check_trace(t, seats=None, budget=None):
    """The scheduler's invariants at every step of a ``traced_run`` trace: KV capacity, seats,
    token budget; requests start in arrival order (FCFS) and all finish."""
    assert type(t) is dict and type(t["steps"]) is list and type(t["seqs"]) is list, "traced_run returns plain data"
    for i, step in enumerate(t["steps"]):
        batch = [(rid, n) for rid, n, _ in step["batch"]]
        assert type(step["need"]) is int and step["need"] <= step["free"], \
            f"step {i}: the batch {batch} needs {step['need']} KV blocks, only {step['free']} are free"
        assert seats is None or step["running"] <= seats, \
            f"step {i}: {step['running']} requests run, over max_num_seqs = {seats} (batch {batch})"
        assert budget is None or sum(n for _, n in batch) <= budget, \
            f"step {i}: the batch {batch} feeds {sum(n for _, n in batch)} tokens, over the token budget {budget}"
    starts = [(s["start"], s["rid"]) for s in t["seqs"]]
    late = next((b for a, b in zip(starts, starts[1:]) if a[0] is not None and b[0] is not None and b[0] < a[0]), None)
    assert late is None, f"request {late[1]} started (first prefill at {late[0]}) before a request that arrived " \
        "earlier: requests must start in arrival order (FCFS)"
    unstarted = [rid for start, rid in starts if start is None]
    assert not unstarted, f"requests {unstarted} never started"
    unfinished = [(s["rid"], s["generated"], s["output_len"]) for s in t["seqs"] if s["generated"] != s["output_len"]]
    assert not unfinished, f"every request must finish: (request, generated, output_len) {unfinished}"

# %% kind="locked" id="checker"
def traced_run(spec, seats, budget=None, blocks=16, block_size=4):
    """Serve the workload ``spec`` with your scheduler on the simulator; return what happened as
    plain data: every step's batch, the KV blocks it needed and had, the seats in use, and per
    request its finish time, preemptions, tokens and first prefill (``check_trace`` checks it)."""
    steps = []

    def make(kv):
        sched = lab_factory(seats, NO_BUDGET if budget is None else budget)(kv)
        inner = sched.schedule

        def schedule():
            batch = inner()
            steps.append({"need": sum(kv.blocks_needed(s.rid, n) for s, n in batch), "free": kv.num_free,
                          "running": len(sched.running), "batch": [(s.rid, n, s.num_uncomputed) for s, n in batch]})
            return batch

        sched.schedule = schedule
        return sched

    res = serve(workload_from(spec), make, SimBackend(num_blocks=blocks, block_size=block_size), fast_forward=False)
    seqs = [{"rid": s.rid, "finish": s.finish_time, "preemptions": s.num_preemptions, "generated": s.num_generated,
             "output_len": s.output_len, "start": next((t for t, e in s.events if e == "prefill"), None)}
            for s in res.seqs]
    return {"steps": steps, "seqs": seqs}


def real_run(spec, seats, budget=None, blocks=14, block_size=4):
    """Serve the workload ``spec`` with your scheduler on the tiny GPT; per request, the tokens it
    produced and how often it was preempted (plain data)."""
    import torch
    from mlsys_kit.models.gpt import GPT

    torch.set_num_threads(1)
    model = GPT("tiny", seed=0)
    trace = workload_from(dict(spec, vocab=model.config.vocab_size))
    res = serve(trace, lab_factory(seats, NO_BUDGET if budget is None else budget),
                RealBackend(model, num_blocks=blocks, block_size=block_size))
    return [{"rid": s.rid, "outputs": list(s.outputs), "preemptions": s.num_preemptions} for s in res.seqs]

# %% kind="test" id="test_admission" points=3
kv = SimKV(6, 4)
sched = LabScheduler(kv, max_num_seqs=2)
for rid, p in enumerate([5, 9, 2]):
    sched.add(running_seq(SimKV(8, 4), rid, p, 3, computed=0))
batch = []
schedule_prefills(sched, batch, taken=0)
case = "6 free blocks, 3 new requests of 5, 9 and 2 tokens, max_num_seqs 2, no budget"
assert [(s.rid, n) for s, n in batch] == [(0, 5), (1, 9)], \
    f"{case}: the batch should be [(0, 5), (1, 9)], got {[(s.rid, n) for s, n in batch]}"
assert [s.rid for s in sched.running] == [0, 1] and [s.rid for s in sched.waiting] == [2], \
    f"{case}: max_num_seqs is 2: running should be [0, 1] and waiting [2], got " \
    f"{[s.rid for s in sched.running]} and {[s.rid for s in sched.waiting]}"
assert [str(s.status) for s in sched.running] == ["running", "running"], \
    f"{case}: admitted requests are 'running': got {[str(s.status) for s in sched.running]}"
check_trace(traced_run({"n": 12, "rate": 50.0, "prompt": ["uniform", 8, 1, 20], "output": ["uniform", 6, 1, 12],
                        "seed": 0}, seats=4, blocks=12), seats=4)
### BEGIN HIDDEN TESTS
kv = SimKV(5, 4)
sched = LabScheduler(kv)
for rid, p in enumerate([5, 13, 2]):
    sched.add(running_seq(SimKV(8, 4), rid, p, 3, computed=0))
batch = []
schedule_prefills(sched, batch, taken=1)  # 4 blocks left: 2 for request 0, request 1 needs 4
assert [(s.rid, n) for s, n in batch] == [(0, 5)], "request 1 does not fit and request 2 may not overtake it"
# hand-made cases for each branch of the loop over running requests: two prefills of 12 tokens,
# 4 computed (one block each), 8 to go (two more blocks each)


def _two_prefills(blocks, budget=NO_BUDGET):
    kv = SimKV(blocks, 4)
    sched = LabScheduler(kv, token_budget=budget)
    a, b = running_seq(kv, 0, 12, 3, computed=4), running_seq(kv, 1, 12, 3, computed=4)
    sched.running = [a, b]
    return kv, sched, a, b


kv, sched, a, b = _two_prefills(8, budget=8)  # the budget is spent on request 0: stop there
batch = []
schedule_prefills(sched, batch, taken=0)
assert [(s.rid, n) for s, n in batch] == [(0, 8)] and b.num_preemptions == 0, [(s.rid, n) for s, n in batch]
kv, sched, a, b = _two_prefills(3)  # request 0 needs 2 blocks, 1 is free: the newer request 1 is preempted
batch = []
schedule_prefills(sched, batch, taken=0)
assert [(s.rid, n) for s, n in batch] == [(0, 8)], [(s.rid, n) for s, n in batch]
assert b.num_preemptions == 1 and b.status == "waiting" and [s.rid for s in sched.waiting] == [1]
assert sched.running == [a] and a.num_preemptions == 0 and kv.num_free == 2
kv, sched, a, b = _two_prefills(4)  # exactly the 2 blocks request 0 needs are free: nobody is preempted
batch = []
schedule_prefills(sched, batch, taken=0)
assert [(s.rid, n) for s, n in batch] == [(0, 8)] and sched.running == [a, b], [(s.rid, n) for s, n in batch]
assert a.num_preemptions == 0 and b.num_preemptions == 0 and len(sched.waiting) == 0
kv = SimKV(8, 4)  # one token of budget is left for the second prefill: it still gets a chunk of 1
sched = LabScheduler(kv, token_budget=5)
a, b = running_seq(kv, 0, 8, 3, computed=4), running_seq(kv, 1, 12, 3, computed=4)
sched.running = [a, b]
batch = []
schedule_prefills(sched, batch, taken=0)
assert [(s.rid, n) for s, n in batch] == [(0, 4), (1, 1)], [(s.rid, n) for s, n in batch]
kv = SimKV(3, 4)  # the newer request is already in this batch (a decode): it may not be preempted
sched = LabScheduler(kv)
a, d = running_seq(kv, 0, 12, 3, computed=4), running_seq(kv, 1, 4, 5, generated=1)
sched.running = [a, d]
batch = []
batch.append((d, 1))
schedule_prefills(sched, batch, taken=kv.blocks_needed(1, 1))
assert [(s.rid, n) for s, n in batch] == [(1, 1)] and d.num_preemptions == 0 and a.num_preemptions == 0
assert sched.running == [a, d] and len(sched.waiting) == 0
kv = SimKV(5, 4)  # the decode took a block this batch (taken = 1): it counts when deciding to preempt
sched = LabScheduler(kv)
d, a, b = (running_seq(kv, 0, 4, 5, generated=1), running_seq(kv, 1, 12, 3, computed=4),
           running_seq(kv, 2, 12, 3, computed=4))
sched.running = [d, a, b]
batch = []
batch.append((d, 1))
schedule_prefills(sched, batch, taken=kv.blocks_needed(0, 1))
assert [(s.rid, n) for s, n in batch] == [(0, 1), (1, 8)], [(s.rid, n) for s, n in batch]
assert b.num_preemptions == 1 and sched.running == [d, a] and [s.rid for s in sched.waiting] == [2]
kv = SimKV(5, 4)  # request 0 is blocked (the newest is a decode in the batch): request 1 may not overtake it
sched = LabScheduler(kv)
a, c, d = (running_seq(kv, 0, 12, 3, computed=4), running_seq(kv, 1, 7, 3, computed=5),
           running_seq(kv, 2, 4, 5, generated=1))
sched.running = [a, c, d]
batch = []
batch.append((d, 1))
schedule_prefills(sched, batch, taken=kv.blocks_needed(2, 1))
assert [(s.rid, n) for s, n in batch] == [(2, 1)], [(s.rid, n) for s, n in batch]
from mlsys_kit.serving.engine import serve as _serve
from mlsys_kit.serving.simulator import SimBackend as _Sim
from mlsys_kit.serving.scheduler import ChunkedScheduler as _Chunked
# a preemption, then the same request admitted again: first in line, its prompt and the tokens
# it generated prefilled again (blocks freed by the preemption reused)
kv = SimKV(6, 4)
sched = LabScheduler(kv, max_num_seqs=3)
a, b = running_seq(kv, 7, 5, 6, generated=2), running_seq(kv, 3, 6, 6, generated=3)  # 6 and 8 tokens cached
sched.running = [a, b]
sched.add(running_seq(SimKV(8, 4), 9, 2, 3, computed=0))
preempt(sched, b)
batch = []
schedule_prefills(sched, batch, taken=0)
assert [(s.rid, n) for s, n in batch] == [(3, 9), (9, 2)], [(s.rid, n) for s, n in batch]
assert [s.rid for s in sched.running] == [7, 3, 9] and b.status == "running" and b.num_preemptions == 1
# drawn states (your own), no token budget: against the reference on a copy
_rng = student_rng("admission")
for _k in range(50):
    sched = draw_state(_rng)
    sched.token_budget = NO_BUDGET
    batch, taken = decodes_batch(sched, _rng)
    seqs = list(sched.running) + list(sched.waiting)
    case = f"{describe_state(sched, batch, taken)}; schedule_prefills(sched, batch, taken)"
    _ref, _ref_seqs, _ref_batch = copy_into(sched, _Chunked(SimKV(1, 1), 1, NO_BUDGET), seqs, batch)
    schedule_prefills(sched, batch, taken)
    _ref.schedule_prefills(_ref_batch, taken)
    assert [(s.rid, n) for s, n in batch] == [(s.rid, n) for s, n in _ref_batch], \
        f"{case}: the batch should be {[(s.rid, n) for s, n in _ref_batch]}, got {[(s.rid, n) for s, n in batch]}"
    _d = first_difference(scheduler_state(sched, seqs), scheduler_state(_ref, _ref_seqs))
    assert _d is None, f"{case}: {_d}"
_rng = student_rng("admission runs")
for trial in range(8):  # whole runs, each step through the judge: few, small and tight (preemptions)
    _spec = {"n": _rng.randint(1, 16), "rate": _rng.uniform(1, 300), "prompt": ["uniform", 8, 1, 30],
             "output": ["uniform", 8, 1, 20], "process": "gamma", "cv": _rng.uniform(0.5, 3),
             "seed": _rng.randrange(10**6)}
    blocks, seats = _rng.randint(13, 24), _rng.randint(1, 8)
    mine = traced_run(_spec, seats=seats, blocks=blocks)
    check_trace(mine, seats=seats)
    ref = _serve(workload_from(_spec), lambda kv: _Chunked(kv, seats, 10**9), _Sim(num_blocks=blocks, block_size=4))
    assert [s["finish"] for s in mine["seqs"]] == [s.finish_time for s in ref.seqs], (_spec, seats, blocks)
### END HIDDEN TESTS

# %% kind="test" id="test_chunked" points=3
mine = traced_run({"n": 10, "rate": 100.0, "prompt": ["uniform", 30, 10, 40], "output": ["uniform", 6, 2, 10],
                   "seed": 1}, seats=4, budget=12, blocks=40)
check_trace(mine, seats=4, budget=12)
log = [step["batch"] for step in mine["steps"]]
assert any(n < left for batch in log for _, n, left in batch), \
    "prompts go in chunks: no batch fed a prompt fewer tokens than it had left (budget 12, prompts of 10 to 40)"
_most = max(sum(n for _, n, _ in b) for b in log)
assert _most == 12, f"with a budget of 12 tokens and long prompts, the fullest batches feed 12 tokens: got at most {_most}"
### BEGIN HIDDEN TESTS
from mlsys_kit.serving.engine import serve as _serve
from mlsys_kit.serving.simulator import SimBackend as _Sim
from mlsys_kit.serving.scheduler import ChunkedScheduler as _Chunked
# drawn states (your own) with a token budget: against the reference on a copy
_rng = student_rng("chunked")
for _k in range(50):
    sched = draw_state(_rng)
    sched.token_budget = _rng.randint(1, 24)
    batch, taken = decodes_batch(sched, _rng)
    seqs = list(sched.running) + list(sched.waiting)
    case = f"{describe_state(sched, batch, taken)}; schedule_prefills(sched, batch, taken)"
    _ref, _ref_seqs, _ref_batch = copy_into(sched, _Chunked(SimKV(1, 1), 1, NO_BUDGET), seqs, batch)
    schedule_prefills(sched, batch, taken)
    _ref.schedule_prefills(_ref_batch, taken)
    assert [(s.rid, n) for s, n in batch] == [(s.rid, n) for s, n in _ref_batch], \
        f"{case}: the batch should be {[(s.rid, n) for s, n in _ref_batch]}, got {[(s.rid, n) for s, n in batch]}"
    _d = first_difference(scheduler_state(sched, seqs), scheduler_state(_ref, _ref_seqs))
    assert _d is None, f"{case}: {_d}"
_rng = student_rng("chunked runs")
for trial in range(8):  # whole runs, each step through the judge: few, small and tight (preemptions)
    _spec = {"n": _rng.randint(1, 16), "rate": _rng.uniform(1, 300), "prompt": ["uniform", 8, 1, 30],
             "output": ["uniform", 8, 1, 20], "process": "gamma", "cv": _rng.uniform(0.5, 3),
             "seed": _rng.randrange(10**6)}
    blocks, seats = _rng.randint(13, 24), _rng.randint(1, 8)
    budget = _rng.randint(seats, 24)
    mine = traced_run(_spec, seats=seats, budget=budget, blocks=blocks)
    check_trace(mine, seats=seats, budget=budget)
    ref = _serve(workload_from(_spec), lambda kv: _Chunked(kv, seats, budget), _Sim(num_blocks=blocks, block_size=4))
    assert [(s["finish"], s["preemptions"]) for s in mine["seqs"]] == \
        [(s.finish_time, s.num_preemptions) for s in ref.seqs], (_spec, seats, budget, blocks)
### END HIDDEN TESTS

# %% [markdown] id="md-real"
# ## 4. On the real model (2 points)
#
# The same scheduler now drives a tiny GPT (4 layers, 128 wide, random weights) whose K/V live in a
# paged cache of very few blocks, so that preemption and chunking both happen. With greedy decoding
# every request must produce exactly the tokens it produces when generated alone. Nothing to write:
# if this fails, your scheduler feeds the model the wrong tokens (think about `num_computed`).

# %% kind="test" id="test_real" points=2
import torch
from mlsys_kit.models.gpt import GPT

torch.set_num_threads(1)
_model = GPT("tiny", seed=0)  # the same weights as in real_run (seeded): the reference's own copy
_spec = {"n": 8, "rate": 1000.0, "prompt": ["uniform", 16, 8, 30], "output": ["uniform", 10, 6, 16], "seed": 5}
_trace = workload_from(dict(_spec, vocab=_model.config.vocab_size))
real = real_run(_spec, seats=6, budget=8, blocks=14)
assert type(real) is list and len(real) == len(_trace), "real_run returns one record per request"
assert sum(r["preemptions"] for r in real) > 0, "this cache is small enough to force preemption"
for r, req in list(zip(real, _trace))[:3]:
    assert r["outputs"] == _model.generate_reference(list(req.prompt), req.output_len), r["rid"]
### BEGIN HIDDEN TESTS
for r, req in list(zip(real, _trace))[3:]:
    assert r["outputs"] == _model.generate_reference(list(req.prompt), req.output_len), r["rid"]
real2 = real_run(_spec, seats=3, blocks=12)
for r, req in zip(real2, _trace):
    assert r["outputs"] == _model.generate_reference(list(req.prompt), req.output_len), r["rid"]
### END HIDDEN TESTS

# %% [markdown] id="md-plots"
# ## 5. Your own curves (not graded)
#
# The cell below simulates 400 requests per point with the engine's cost model, at increasing
# request rates, for static batching (the engine's built-in baseline), your scheduler without a
# budget, and your scheduler with a 512-token budget, on prompts long enough to hurt.

# %% kind="locked" id="plots" judge=false
from mlsys_kit.serving.viz import plot_latency_vs_rate

long_prompts = dict(prompt=LengthDist("lognormal", 512, 16, 2048, 1.0), output=LengthDist("lognormal", 64, 2, 256, 0.8))
curves = {}
for rate in (1.0, 2.0, 4.0, 6.0):
    trace = make_workload(400, rate, seed=0, **long_prompts)
    for name, factory in (("static", "static"), ("continuous", lab_factory(64)), ("chunked", lab_factory(64, 512))):
        res = serve(trace, factory, SimBackend(num_blocks=4096))
        curves.setdefault(name, []).append(dict(summarize(res), rate=rate))
plot_latency_vs_rate(curves, "your scheduler vs static batching (simulated)")

# %% [markdown] id="md-design"
# ## 6. Design question: which token budget? (4 points)
#
# A token budget bounds how long one iteration takes, hence the longest gap a decoding request
# waits between two of its tokens; a bigger budget feeds prompts faster (a lower TTFT). So an
# operator with a latency target on that gap picks the **largest** budget that still meets it.
#
# Write `largest_budget(spec, budgets, itl_target)` (1 point, autograded): serve the workload `spec`
# (`workload_from(spec)`) with your scheduler (`lab_factory(DESIGN_SEATS, budget)`) on the simulator
# (`SimBackend(num_blocks=DESIGN_BLOCKS)`) for each budget in `budgets` (a list in any order, which
# your function leaves as it is), and return the largest budget at which the 99th percentile over
# requests of each request's longest gap between two tokens, `summarize(result)["itl_max_p99"]`, is
# at most `itl_target` seconds; `None` if no budget meets it.
#
# Then, in the cell after its test, set `ANSWER_BUDGET` with your function: the budget for
# `DESIGN_SPEC`, `DESIGN_BUDGETS` and `DESIGN_ITL_TARGET` (1 point, autograded).
#
# Then answer in the cell at the end of this section, in a few sentences (2 points, graded by hand):
# **why does a bigger budget lengthen the worst gap between two tokens but shorten the time to the
# first token, and why is "no budget" (vLLM's scheduler) the worst for that gap, although its
# throughput is no better (Sarathi-Serve, section 3)?**

# %% kind="solution" id="design"
def largest_budget(spec, budgets, itl_target):
    ### BEGIN SOLUTION
    for budget in sorted(budgets, reverse=True):
        result = serve(workload_from(spec), lab_factory(DESIGN_SEATS, budget), SimBackend(num_blocks=DESIGN_BLOCKS))
        if summarize(result)["itl_max_p99"] <= itl_target:
            return budget
    return None
    ### END SOLUTION

# %% kind="test" id="test_design" points=1
_spec5 = {"n": 5, "rate": 10.0, "prompt": ["uniform", 100, 50, 150], "output": ["uniform", 5, 2, 8], "seed": 1}
_got = largest_budget(_spec5, [64, 128], 0.001)
assert _got is None, f"largest_budget(5 requests, [64, 128], itl_target=0.001): no budget keeps every gap under 1 ms, " \
    f"so None; got {_got!r}"
### BEGIN HIDDEN TESTS
from mlsys_kit.serving.engine import serve as _serve
from mlsys_kit.serving.simulator import SimBackend as _Sim
from mlsys_kit.serving.metrics import summarize as _summarize
from mlsys_kit.serving.scheduler import ChunkedScheduler as _Chunked


def _itl(spec, budget):
    """The reference chunked scheduler's p99 longest gap for one budget."""
    return _summarize(_serve(workload_from(spec), lambda kv: _Chunked(kv, 64, budget), _Sim(num_blocks=4096)))["itl_max_p99"]


# the boundary: a target equal to a budget's own gap is met; budgets in any order, left as they are
_spec = {"n": 40, "rate": 8.0, "prompt": ["lognormal", 400, 16, 1500, 1.0], "output": ["uniform", 20, 2, 40], "seed": 3}
_gaps = {b: _itl(_spec, b) for b in (64, 256, 1024)}
assert _gaps[64] < _gaps[256] < _gaps[1024], _gaps
for _budgets, _target, _want in (([1024, 64, 256], _gaps[256], 256), ([256, 1024, 64], _gaps[1024], 1024),
                                 ([64, 1024, 256], _gaps[64], 64), ([1024, 256], _gaps[64], None)):
    _arg, _spec_arg = list(_budgets), dict(_spec)
    _got = largest_budget(_spec_arg, _arg, _target)
    assert (_got is None if _want is None else type(_got) is int and _got == _want), (_budgets, _target, _got, _want)
    assert _arg == _budgets and _spec_arg == _spec, f"largest_budget changed its arguments: budgets {_budgets} -> {_arg}"
### END HIDDEN TESTS

# %% [markdown] id="md-design-answer"
# Your answer, with your function: the largest of `DESIGN_BUDGETS` that meets `DESIGN_ITL_TARGET` on
# `DESIGN_SPEC`.

# %% kind="solution" id="design_answer"
### BEGIN SOLUTION
ANSWER_BUDGET = largest_budget(DESIGN_SPEC, DESIGN_BUDGETS, DESIGN_ITL_TARGET)
### END SOLUTION
print(ANSWER_BUDGET)

# %% kind="test" id="test_design_answer" points=1
assert type(ANSWER_BUDGET) is int and ANSWER_BUDGET in DESIGN_BUDGETS, \
    f"set ANSWER_BUDGET with your function: one of DESIGN_BUDGETS {DESIGN_BUDGETS}, got {ANSWER_BUDGET!r}"
### BEGIN HIDDEN TESTS
from mlsys_kit.serving.engine import serve as _serve
from mlsys_kit.serving.simulator import SimBackend as _Sim
from mlsys_kit.serving.metrics import summarize as _summarize
from mlsys_kit.serving.scheduler import ChunkedScheduler as _Chunked


def _itl(spec, budget):
    """The reference chunked scheduler's p99 longest gap for one budget."""
    return _summarize(_serve(workload_from(spec), lambda kv: _Chunked(kv, 64, budget), _Sim(num_blocks=4096)))["itl_max_p99"]


_ref_budget = max((b for b in [128, 256, 512, 1024, 2048, 10**9] if _itl(DESIGN_SPEC, b) <= 0.1), default=None)
assert ANSWER_BUDGET == _ref_budget == 512, ANSWER_BUDGET
### END HIDDEN TESTS

# %% [markdown] kind="answer" id="q_budget_why" points=2
# An iteration takes about a + b x (prefill tokens) + c x (decodes): its time grows with the tokens
# it carries. Every decoding request waits for the whole iteration to get its next token, so the
# longest gap between two tokens is set by the biggest iteration, which the budget caps: 512 tokens
# keep it under 100 ms here, 1024 do not. A bigger budget moves more of each waiting prompt into
# every iteration, so prompts finish their prefill in fewer iterations and the first token comes
# sooner (a lower TTFT). Without a budget a whole 2,000-token prompt goes into one iteration and
# every decode beside it stalls for it (a generation stall, about 300 ms here); its
# throughput is no better because decode-only iterations are memory-bound and a chunk of prefill
# rides along in them almost for free: chunking spreads the same prefill work over more iterations
# without wasting the GPU. So the budget trades TTFT against the worst inter-token gap, and the
# operator takes the largest budget that meets the gap target.

# %% [markdown] kind="rubric" id="q_budget_why_rubric"
# Rubric (2 points):
#
# * 1 point: an iteration's time grows with its tokens, and every running decode waits for the
#   whole iteration, so the budget caps the worst gap; a bigger budget lets each prompt's prefill
#   finish in fewer iterations, hence a lower TTFT. Half a point for only one of the two directions.
# * 1 point: without a budget a long prompt is prefilled in one iteration and stalls every decode
#   beside it (a generation stall); throughput stays about the same because the chunks ride along
#   with memory-bound decodes (the same total work, spread out). Half a point for the stall without
#   saying why throughput does not suffer.
# * Typical wrong answer (0 points for that part): "a bigger budget runs more requests at once"
#   (the seats cap that, not the budget), or "no budget is worst because it preempts more"
#   (preemption is not what sets the gap here).
