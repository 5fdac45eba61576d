"""The one exception type for bad user input.

Command-line entry points catch :class:`InputError`, print its message as a single
line and exit with status 2; everything else is a bug and keeps its traceback.
"""


class InputError(Exception):
    """A file, folder or option given by the user cannot be used (message names it)."""


class TrainingDiverged(Exception):
    """The training loss became NaN or infinite (the message says where)."""
