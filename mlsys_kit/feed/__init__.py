"""Keeping devices fed: gradient communication scheduling and input pipelines.

Reading order: ``comm`` (ByteScheduler's timeline: FIFO, buckets, priority + partition + credit),
``comm_search`` (the partition/credit search), ``byteps`` (BytePS's communication analysis),
``data`` and ``cache`` (input pipelines: data stalls, LRU vs CoorDL's MinIO cache); the real runs
``comm_real`` (gloo data parallel against DDP) and ``data_real`` (a DataLoader with a cache);
``viz``, ``viz_data``, ``widgets``; ``cli``, ``demo``.
"""
