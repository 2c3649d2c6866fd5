"""The error type for problems a user can fix: a missing checkpoint, a bad option, an unreadable file."""


class SgmError(Exception):
    """A user-facing error whose message is one line saying what is wrong and what to do.

    The CLI prints it as `sgm: error: <message>` and exits with status 2; the web app shows it to the user.
    """
