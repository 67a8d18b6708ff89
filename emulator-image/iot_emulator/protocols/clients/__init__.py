"""What a device says on its own, one service each: DNS resolver, NTP, HTTP, TLS to its clouds, RTSP,
MQTT, CoAP (`tcp_client` is the TCP session they share)."""
