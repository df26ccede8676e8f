"""One exception type for every bad input: its message is the one line the user sees."""


class UnwantError(Exception):
    """A problem with the user's input or environment, with a message that says how to fix it."""
