"""The training driver (a generator of iteration stats) and its child-process runner."""
