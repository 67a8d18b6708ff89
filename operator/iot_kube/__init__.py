"""Reaching the Kubernetes API, for the operator and the dashboard alike, on the official client.

`connection.load()` reads what a user has (in-cluster service account, kubeconfig files with exec
plugins, tokenFile, client certificates, proxies) into one in-memory `Connection`; `client` builds
a `kubernetes_asyncio` ApiClient from it, and kopf gets the same connection as its ConnectionInfo.
"""
