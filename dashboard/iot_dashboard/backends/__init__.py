"""Backends: where devices live and run (`local`: a file and local processes; `kubernetes`: a cluster)."""
