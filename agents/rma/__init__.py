"""RMA (Kumar et al. 2021): adapting within the episode from the last steps of proprioception."""
