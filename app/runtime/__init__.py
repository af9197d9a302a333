"""The Qt-free runtime the window drives: child-process jobs, the preview and adaptation jobs, task files.

An import-linter contract keeps Qt out of this package, so every job here runs and is tested headless."""
