"""The rig shared by tests and benchmarks: a private mosquitto broker and a subscriber."""
