"""WooCommerce: what to fetch (shop) and its pure payload reading (parse)."""
