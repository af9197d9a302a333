"""Learning layer: policies, meta-RL learners, adaptation and export (torch; never Qt)."""
