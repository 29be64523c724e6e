"""Arithmetic intensity forgets the bytes of writing the output matrix C."""
EDITS = [("roofline", "(m * k + k * n + m * n)", "(m * k + k * n)")]
