"""The "Plan your day" web page: a server-rendered form that works without JavaScript."""
