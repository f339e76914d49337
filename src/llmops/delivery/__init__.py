"""Moving a change through the environments: affected environments, diffs of renders, promotion."""
