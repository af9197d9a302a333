"""The sim2adapt application: the ``sim2adapt`` command line and the Qt window.

Only :mod:`app.window.main` and the modules it imports load Qt; :mod:`app.cli.main` and :mod:`app.cli.task_args`
stay Qt-free so that ``sim2adapt task`` and ``sim2adapt bench`` start fast and run headless.
"""
