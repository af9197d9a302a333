"""PEARL: its settings, the context encoder, SAC networks, per-task replay, the acting agent and the learner."""
