"""engine package of dp_plugin."""
