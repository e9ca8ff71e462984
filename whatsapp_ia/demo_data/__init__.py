"""The demo's sample data: the catalog PDF and the script that builds it."""
