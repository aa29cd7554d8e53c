"""The Socket.IO entrypoint: /presence and /chat namespaces, and the Notifier that emits."""
