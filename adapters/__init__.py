"""Patches that plug dp_plugin modalities into upstream TruFor / MMFusion objects."""
