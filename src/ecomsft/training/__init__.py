"""Training machinery shared by the tasks: the Trainer classes and arguments (``trainer``), the
class-imbalance losses (``losses``), the speed options (``speed``) and tracking (``tracking``)."""
