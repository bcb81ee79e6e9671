"""The commands of `ninety`, one module per group; ninety.cli registers them."""
