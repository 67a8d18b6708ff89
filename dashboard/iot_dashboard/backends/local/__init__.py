"""Local mode: manifests in a YAML file (`store`), emulator processes run by a `supervisor`."""
