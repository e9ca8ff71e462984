"""Benchmarks for the WhatsApp channel (see bench/README.md)."""
