"""Static offline dashboards built from the analysts' warehouse, and the stewards' quality console."""
