"""Moving a change through the environments: diffs of renders, promotion."""
