"""Infrastructure of the kubernetes engine: the API client (errors as types) and the settings.

Nothing here knows a provider family; engines/kubernetes.py puts the families on top of it.
"""
