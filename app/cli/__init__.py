"""The ``sim2adapt`` command line.

Qt-free, so that ``sim2adapt task`` and ``sim2adapt bench`` start fast and run headless.
"""
