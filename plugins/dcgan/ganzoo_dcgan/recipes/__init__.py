"""Recipe tunings shipped with the plugin (YAML)."""
