"""Groups are strided (i, i + n/m, ...) instead of consecutive machines."""
EDITS = [("placement", "        start = i // m * m\n        holders.append(sorted(range(start, start + m), key=lambda j: (j - i) % n))",
          "        g = n // m\n        holders.append(sorted(range(i % g, n, g), key=lambda j: (j - i) % n))")]
