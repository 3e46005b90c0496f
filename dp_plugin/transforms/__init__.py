"""transforms package of dp_plugin."""
