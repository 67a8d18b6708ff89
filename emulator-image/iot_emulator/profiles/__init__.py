"""Device profiles as data: the model and loader (`catalog`), what a device answers when probed (`answers`),
and the shipped library (`data/*.yaml`). Sans-IO."""
