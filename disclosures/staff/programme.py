"""Staff pages: programme. Routes register on the staff blueprint."""

from .views import bp  # noqa: F401
