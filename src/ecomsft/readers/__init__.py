"""What a finished run of each task is for: one after-training package per task (the counterpart of
``ecomsft/tasks/<task>/`` on the training side), each looked up by the run's task in
``inference/registry.py`` and holding, each optional, ``reader.py`` (``READER``: the class that
loads the run and predicts), ``routes.py`` (its HTTP routes), ``report.py`` (its sections of
report.html) and ``terminal.py`` (what the command line prints). ``docs/adding-a-task.md`` says how to add one."""
