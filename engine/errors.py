"""The one error type the engine raises for bad input, with a message meant for the user."""


class SideJPEGError(Exception):
    """Bad input or an unusable file: the message says what is wrong in one line."""
