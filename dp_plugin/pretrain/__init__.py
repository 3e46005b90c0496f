"""pretrain package of dp_plugin."""
