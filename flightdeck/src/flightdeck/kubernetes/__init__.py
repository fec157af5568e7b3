"""The kubernetes engine's providers: they act on the objects the Helm chart creates.

`api` wraps the official client (errors as types, objects as plain JSON dicts); `routers`,
`workloads` and `state` register the TrafficRouter, Workloads and StateStore implementations.
"""
