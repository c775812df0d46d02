"""The one exception type kmzcodec raises for bad input."""

from __future__ import annotations


class KmzError(ValueError):
    """A malformed ``.kmz`` file, or options the codec cannot honour.

    ``reason`` is a short stable token naming the rule that was broken (the
    conformance suite in ``spec/`` lists the tokens a decoder reports); the
    message is for people.
    """

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason
