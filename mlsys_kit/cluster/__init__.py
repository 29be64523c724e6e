"""Cluster scheduling for deep-learning jobs (Philly, ATC'19; MLaaS in the Wild, NSDI'22;
Tiresias, NSDI'19; Gavel, OSDI'20; Pollux, OSDI'21).

Read in this order: ``core`` (the vocabulary: GPUs, machines, jobs, allocations, the policy
interface, FIFO and SRTF as worked examples), ``simulate`` (the trace-driven discrete-event
simulator: the teaching path), ``placement`` (locality: a job spread over machines runs slower),
``metrics`` (JCT, makespan, utilisation, queueing delay, finish-time fairness), ``workload``
(seeded Philly / PAI-like traces) and ``trace`` (the public traces' CSV layouts); then the
policies: ``policies`` (Tiresias' 2D-LAS), ``gavel`` (heterogeneity-aware LPs), ``pollux``
(goodput and adaptive batch sizes), ``registry`` (the policies by name) and ``fit`` (the tiny
GPT measured and Pollux's model fitted). Plots and the lecture widget: ``viz``, ``widgets``; the
command (``mlsys-kit cluster``): ``cli``; the report section: ``demo``.

This file imports nothing: import each name from the module that defines it.
"""
