"""The local registry: `$EXPERT_HOME/experts/<name>/<version>/` + `registry.json`.

Install (`install.install`), uninstall, update, dependency resolution and the base-model check.
Reading and verifying packages is `expertkit.packaging`'s job; this layer applies the policy.
"""
