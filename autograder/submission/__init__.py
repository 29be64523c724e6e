"""One submission: the sandbox, the judge and the channel between them (see ``autograder``)."""
