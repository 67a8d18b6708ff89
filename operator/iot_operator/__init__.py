"""The kopf operator: IoTDevice and IoTFleet resources become emulator pods, and their stats become status.

Layers, each importing only the ones below it:

- `handlers` (kopf registration, thin) -> `reconcile` (one pass over one resource, I/O through `kube`
  and `scrape`) -> pure functions: `pods` (desired pods), `plan` (what to create and delete),
  `status` (aggregation and conditions), `backoff`;
- `settings` (one typed object), `crdgen` (the CRDs from the models), `cli` (the entry point).
"""
