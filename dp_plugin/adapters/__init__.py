"""Patches for upstream forgery-localization code bases (import them explicitly)."""
