"""One module per resource; `api.main` mounts them."""
