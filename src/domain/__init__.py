"""Chat, Message and the rules between them: pure Python and attrs, no framework."""
