"""What to run, validated: the IoTDevice/IoTFleet resources (`models`), manifest files expanded to devices
(`manifests`), and bounded YAML/JSON readers for every document from outside (`bounded`). Sans-IO."""
