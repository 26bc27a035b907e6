"""The CrossGuard policy pack: ``pulumi preview --policy-pack policies/crossguard``.

Importing this package (or ``.validations``) does not start the pack; only running
``__main__.py`` (what the Pulumi CLI does) serves it.
"""
