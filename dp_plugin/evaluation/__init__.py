"""evaluation package of dp_plugin."""
