"""``ecomsft ui``: the web interface over the Python API (never a second code path for training or
prediction). This first part: every run under a root folder with its task, model and main metric
beside its baseline; a run's page (its test figures, its report.html); and trying a run on a text.
Chinese and English interface text; plain HTML with inline styles, no asset from outside."""
