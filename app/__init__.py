"""The sim2adapt application: the ``sim2adapt`` command line and the Qt window.

Only :mod:`app.main` and the modules it imports load Qt; :mod:`app.cli` and :mod:`app.task_args`
stay Qt-free so that ``sim2adapt task`` and ``sim2adapt bench`` start fast and run headless.
"""
