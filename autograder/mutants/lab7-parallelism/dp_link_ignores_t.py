"""The data-parallel all-reduce is taken to stay inside a node when d <= per_node, forgetting that
the d replicas of one shard are t devices apart (the group spans t d devices): NVLink is charged
where the network is crossed."""
EDITS = [("cost", 'dp_bw = cluster["nvlink"] if t * d <= cluster["per_node"] else cluster["network"]',
          'dp_bw = cluster["nvlink"] if d <= cluster["per_node"] else cluster["network"]')]
