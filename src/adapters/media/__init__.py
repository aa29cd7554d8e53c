"""Media adapters: decoding and re-encoding uploads (Pillow), storing their bytes (files)."""
