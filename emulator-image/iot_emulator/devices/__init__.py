"""One emulated device and its identity: the device and its protocol machines (`device`), its IPv4 endpoint
(`host`), MAC addresses (`macs`), and MACs pinned across resources that run apart (`mac_claims`). Sans-IO."""
