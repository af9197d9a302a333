"""The Qt window: the main window, its panels and widgets, and the threads that pump runtime jobs into signals."""
