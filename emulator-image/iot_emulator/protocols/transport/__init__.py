"""The device's transport stacks: TCP (`tcp`, `tcp_connection`, `tcp_segment`, `tcp_timer`) and TLS
(`tls_client`, `tls_hello`, `tls_crypto`, `tls_suites`, `tls_stream`)."""
