"""datasets package of dp_plugin."""
