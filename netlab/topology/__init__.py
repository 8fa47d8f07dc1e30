"""From a topology file to the typed model: model, loader, schema, bundled labs."""
