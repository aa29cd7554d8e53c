"""Adapters implementing the application's ports, one folder per technology."""
