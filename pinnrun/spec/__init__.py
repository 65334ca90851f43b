"""Problem spec: YAML loading with line numbers, schema, expressions."""
