"""Shopify's GraphQL contract and order reading."""
