"""MAML: the functional inner step, the acting agent and the meta-learner."""
