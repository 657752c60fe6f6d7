"""Chinwag: a self-hostable real-time chat-rooms server."""

__version__ = "0.1.0"
