"""The OpenAI-compatible HTTP front end (beside cli/): app, scheduler, protocol, errors, metrics."""
