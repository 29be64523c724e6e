"""The tie at the ridge broken the other way: an intensity exactly at peak_flops / bandwidth is
called memory-bound (> instead of >=)."""
EDITS = [("roofline", 'return "compute" if intensity >= peak_flops / bandwidth else "memory"',
          'return "compute" if intensity > peak_flops / bandwidth else "memory"')]
