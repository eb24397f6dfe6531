"""The one exception type for user mistakes: the CLI turns it into `error: ...` and exit status 2."""


class UserError(Exception):
    """Bad input from the user (file, recipe, value, checkpoint): reported in one line, no traceback."""
