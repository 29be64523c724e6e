"""Lab QA: proof that each lab's tests tell right from wrong (see ``autograder``)."""
