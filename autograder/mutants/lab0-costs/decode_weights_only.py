"""The decode batch counts only the weights' bytes (2bnk FLOPs over the k x n matrix read once):
the activations read and the output written are forgotten, so decode looks compute-bound too early
(201 instead of 223 on an A100)."""
EDITS = [("decode_batch", "bound(gemm_intensity(b, n, k, dtype_bytes), peak_flops, bandwidth)",
          "bound(2 * b * n * k / (dtype_bytes * n * k), peak_flops, bandwidth)")]
