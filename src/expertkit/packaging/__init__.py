"""Build, read, sign and verify `.expert` packages (deterministic gzip'd tars).

Entry points: `build.build_package`, `reader.open_package` / `verify.extract_package`,
`signing.sign_package`, `verify.verify_package`, `trust` (the trusted-keys store).
This layer never imports `expertkit.registry`.
"""
