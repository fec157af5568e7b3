"""The bottom layer: errors as types, registries, validation of input, files, the terminal.

Everything else may import from here; nothing here imports the rest of flightdeck.
"""
