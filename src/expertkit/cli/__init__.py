"""`expert-cli`: thin adapters over the library, one module per command or command group."""
