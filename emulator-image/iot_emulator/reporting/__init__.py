"""What the emulator tells the world: the message contract (`message_models`, `messages`), its sinks
(`console` for people, `pipe_sink` for JSON lines on stdout), and captures (`capture_format`, `pcap`)."""
