"""The dashboard service: REST + WebSocket over the local (manifests + emulator processes) or Kubernetes backend."""
