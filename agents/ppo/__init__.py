"""PPO: the update, the multi-task baseline learner and adaptation by fine-tuning."""
