"""Real-time chat between customers and vendors of a marketplace, over Socket.IO.

Installed as the import package ``chat_server``; its layers are ``domain`` (entities and
rules), ``application`` (use cases and the ports they need), ``adapters`` (one folder per
technology) and ``entrypoints`` (Socket.IO, HTTP, CLI and the composition root).
"""

__version__ = "0.1.0"
