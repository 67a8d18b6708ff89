"""HTTP and WebSocket surface: one router per resource under `routes/`, shared dependencies in `deps`."""
