"""The search calls gemm_intensity without dtype_bytes, so the default (fp16) is used whatever the
caller asks (a parameter ignored: right for every fp16 case)."""
EDITS = [("decode_batch", "bound(gemm_intensity(b, n, k, dtype_bytes), peak_flops, bandwidth)",
          "bound(gemm_intensity(b, n, k), peak_flops, bandwidth)")]
