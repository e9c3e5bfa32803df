"""Datasets: raw loaders, field mapping, validation, dedup, split, chat formatting, stats."""
