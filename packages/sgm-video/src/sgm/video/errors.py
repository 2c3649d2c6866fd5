"""The one error type users of the video pipelines see for bad input."""


class VideoInputError(ValueError):
    """Bad user input to a video pipeline: an unreadable file, too few frames, a wrong camera list, a checkpoint
    that does not fit. The message says what is wrong and what to do."""
