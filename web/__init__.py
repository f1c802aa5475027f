"""The web entrypoint: Flask app factory and one blueprint per user-facing area."""
