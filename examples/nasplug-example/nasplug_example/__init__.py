"""An example third-party nasplug plugin."""
