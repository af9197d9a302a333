"""What leaves memory: atomic files, checkpoints, run directories, bundled agents and policy export."""
