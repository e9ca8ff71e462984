"""Provider tests: pure parsers and HTTP clients against local fake servers."""
