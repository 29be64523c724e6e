"""The class: what an instructor runs (see ``autograder``)."""
