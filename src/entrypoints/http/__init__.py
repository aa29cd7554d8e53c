"""HTTP beside Socket.IO on the same port: health, readiness, the demo page."""
