"""Tensor parallelism assumed to stay inside a node: its all-reduces always go over NVLink, even
when t is larger than a node (t > per_node), where they cross the network. Right on every A100
cluster with t <= 8, the only ones the visible test uses."""
EDITS = [("cost", 'tp_bw = cluster["nvlink"] if t <= cluster["per_node"] else cluster["network"]', 'tp_bw = cluster["nvlink"]')]
