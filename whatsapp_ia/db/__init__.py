"""Database backends of the project (Django's, with changes measured on the pipeline's hot path)."""
