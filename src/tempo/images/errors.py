"""What classifying an image can fail with: a TempoError, answered like any other."""

from __future__ import annotations

from tempo.core.errors import TempoError


class ImageError(TempoError):
    """An image that cannot be classified: an unsupported type (415), too many bytes or
    pixels (413), a corrupt or truncated file or a form without one (422)."""


class ModelError(TempoError):
    """The configured model cannot be used: unreadable, an input it cannot be fed, or a
    labels file that does not match its output. Said once at start-up by `tempo serve`
    (and `tempo classify`); a worker that meets it on first use answers 503."""

    def __init__(self, message: str) -> None:
        super().__init__(503, "model_unavailable", message)
