"""The one exception of the training package: a mistake the user can fix (exit status 2, no traceback)."""


class TrainError(Exception):
    """A training setup that cannot work: data that does not fit the spec, a checkpoint of another spec, ..."""
