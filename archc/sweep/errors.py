class SweepError(ValueError):
    """A sweep cannot start or go on (a bad space, budget or storage): the command prints it and exits with 2."""
