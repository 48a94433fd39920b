"""GraphQL object types, split by domain: node (the interface), data, runs, models, results."""
