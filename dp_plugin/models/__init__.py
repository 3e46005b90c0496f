"""models package of dp_plugin."""
