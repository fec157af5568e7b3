"""Flightdeck: progressive delivery, backups and a local platform for one web application."""

__version__ = "0.1.0"
