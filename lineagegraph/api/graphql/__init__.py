"""The GraphQL API (Strawberry): schema, types, context, limits and errors."""
