"""gatecam: an edge licence-plate reading daemon for parking gates."""
