"""The model catalog: what each cloud offers, where, until when, and what each model can do.

Data files (``data/bedrock.yaml``, ``data/azure.yaml``) plus a typed API; nothing is read
and nothing reaches the network at import. Every fact names its source and the date it was
checked; ``skyrelay catalog refresh`` rebuilds the data from the live APIs.

Example::

    >>> from skyrelay.catalog import load_catalog
    >>> load_catalog().bedrock_placement("amazon.nova-lite-v1:0", "us-east-1").status
    'on_demand'
"""

from skyrelay.catalog.query import CATALOG_DIR_ENV, Catalog, Placement, load_catalog
from skyrelay.catalog.schema import CatalogDataError

__all__ = ["CATALOG_DIR_ENV", "Catalog", "CatalogDataError", "Placement", "load_catalog"]
