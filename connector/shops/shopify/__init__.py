"""Shopify: the GraphQL documents (queries), what to fetch (shop), pure reading (parse)."""
