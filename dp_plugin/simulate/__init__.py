"""simulate package of dp_plugin."""
