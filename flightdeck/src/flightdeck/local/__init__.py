"""Infrastructure of the local engine: supervisord, the nginx ingress, TLS, ports, run directory.

Nothing here knows a provider family; engines/local.py puts the families on top of it.
"""
