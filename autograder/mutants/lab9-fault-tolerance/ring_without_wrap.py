"""The ring does not wrap around: the last machines keep fewer copies (i + j capped at n - 1)."""
EDITS = [("placement", "return [[(i + j) % n for j in range(m)] for i in range(n)]",
          "return [sorted({min(i + j, n - 1) for j in range(m)}, key=lambda x: (x - i) % n) for i in range(n)]")]
