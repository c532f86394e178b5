"""Site-wide page chrome: the layout, templating, security headers, static files and the
API docs pages, used by every domain's `pages/`."""
